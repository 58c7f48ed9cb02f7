import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, test } from 'node:test';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import { configSchema } from '../../src/config/schema.js';
import { startGateway } from '../../src/gateway/server.js';
import { matchRealtimeRoute } from '../../src/realtime/realtime-routes.js';
import {
  mayBeResponseEvent,
  parseServerEvent,
  readRealtimeUsage,
} from '../../src/realtime/realtime-usage.js';
import { startSimulator } from '../../src/simulator/index.js';
import { readLedgerRows } from '../helpers/ledger-rows.js';
import { closed } from './realtime-helpers.js';

describe('matchRealtimeRoute', () => {
  it('matches the OpenAI and Azure endpoints and reads the model dimension from their query', () => {
    assert.deepEqual(matchRealtimeRoute('openai', '/realtime?model=gpt-realtime'), {
      upstreamPath: '/realtime?model=gpt-realtime',
      model: 'gpt-realtime',
    });
    assert.deepEqual(
      matchRealtimeRoute('azure-openai', '/openai/realtime?api-version=2025-04-01-preview&deployment=rt-dep'),
      {
        upstreamPath: '/openai/realtime?api-version=2025-04-01-preview&deployment=rt-dep',
        model: 'rt-dep',
      },
    );
    assert.equal(matchRealtimeRoute('azure-openai', '/openai/v1/realtime?model=m')?.model, 'm');
    assert.deepEqual(matchRealtimeRoute('openai', '/realtime'), { upstreamPath: '/realtime' });
  });

  it('matches nothing else', () => {
    assert.equal(matchRealtimeRoute('openai', '/openai/realtime'), undefined);
    assert.equal(matchRealtimeRoute('azure-openai', '/realtime'), undefined);
    assert.equal(matchRealtimeRoute('anthropic', '/realtime'), undefined);
    assert.equal(matchRealtimeRoute('openai', '/realtime/sessions'), undefined);
  });
});

describe('readRealtimeUsage', () => {
  const done = (response: unknown): Record<string, unknown> => ({ type: 'response.done', response });

  it('leaves counts the response did not report absent, never zero', () => {
    assert.deepEqual(readRealtimeUsage(done({ id: 'r', status: 'cancelled', usage: null })), {
      usage: {},
      status: 'cancelled',
      responseId: 'r',
      invalid: false,
    });
    assert.deepEqual(readRealtimeUsage(done(undefined)).usage, {});
  });

  it('drops the counts of a usage holding a value that is not a count', () => {
    for (const bad of [-1, 1.5, '12', 1e12]) {
      const read = readRealtimeUsage(
        done({ usage: { input_tokens: bad, output_tokens: 3, total_tokens: 5 } }),
      );
      assert.equal(read.invalid, true, String(bad));
      assert.deepEqual(read.usage, {});
    }
    const detail = readRealtimeUsage(
      done({ usage: { input_tokens: 2, output_tokens: 3, output_token_details: { audio_tokens: -4 } } }),
    );
    assert.equal(detail.invalid, true);
  });

  it('keeps a failed response with the usage it reports', () => {
    const read = readRealtimeUsage(
      done({ status: 'failed', usage: { input_tokens: 9, output_tokens: 0, total_tokens: 9 } }),
    );
    assert.deepEqual(read.usage, { promptTokens: 9, completionTokens: 0, totalTokens: 9 });
    assert.equal(read.status, 'failed');
  });
});

describe('mayBeResponseEvent', () => {
  it('lets through every spelling of the response event types, and the deltas not', () => {
    for (const text of [
      '{"type":"response.done"}',
      '{"response":{},"type":"response.created"}',
      '{"type":"response\\u002edone"}',
    ]) {
      assert.equal(mayBeResponseEvent(text), true, text);
      assert.match(String(parseServerEvent(text)?.['type']), /^response\.(done|created)$/);
    }
    assert.equal(mayBeResponseEvent('{"type":"response.output_audio.delta","delta":"AAAA"}'), false);
    assert.equal(parseServerEvent('not json'), undefined);
    assert.equal(parseServerEvent('[1,2]'), undefined);
  });
});

test('gateway shutdown closes open Realtime sessions with 1001 and records the response in progress as partial', async () => {
  const sim = await startSimulator({ completionTokens: 500, tokensPerSecond: 50 });
  const ledgerPath = join(mkdtempSync(join(tmpdir(), 'tokenmeter-rt-')), 'ledger.db');
  const gateway = await startGateway(
    configSchema.parse({
      gateway: { host: '127.0.0.1', port: 0 },
      ledger: `sqlite:${ledgerPath}`,
      backends: [{ id: 'sim', type: 'openai', url: `${sim.url}/v1`, apiKey: 'sk-up' }],
      apis: [{ id: 'openai', path: '/openai/v1', type: 'openai', backend: 'sim' }],
      products: [{ id: 'std', apis: ['openai'] }],
      subscriptions: [{ id: 'team-a', key: 'key-team-shutdown-1', product: 'std' }],
    }),
    { port: 0, logger: pino({ level: 'warn' }) },
  );
  try {
    const ws = new WebSocket(`${gateway.url.replace('http', 'ws')}/openai/v1/realtime?model=gpt-realtime`, {
      headers: { authorization: 'Bearer key-team-shutdown-1' },
    });
    const delta = new Promise<void>((resolve) =>
      ws.on('message', (data: Buffer) => {
        if (data.toString().includes('output_text.delta')) resolve();
      }),
    );
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.send(JSON.stringify({ type: 'response.create', response: { output_modalities: ['text'] } }));
    await delta;
    const end = closed(ws);
    await gateway.close();
    assert.equal((await end).code, 1001);
    const rows = readLedgerRows(ledgerPath);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.['source'], 'partial');
    assert.equal(rows[0]?.['operation'], 'realtime');
  } finally {
    await sim.close();
  }
});

test('a blocking budget used up by Realtime responses refuses the next upgrade with 429 before anything is forwarded', async () => {
  const sim = await startSimulator({ completionTokens: 5 });
  const ledgerPath = join(mkdtempSync(join(tmpdir(), 'tokenmeter-rt-')), 'ledger.db');
  const key = 'key-team-budget-1';
  const gateway = await startGateway(
    configSchema.parse({
      gateway: { host: '127.0.0.1', port: 0 },
      ledger: `sqlite:${ledgerPath}`,
      backends: [{ id: 'sim', type: 'openai', url: `${sim.url}/v1`, apiKey: 'sk-up' }],
      apis: [{ id: 'openai', path: '/openai/v1', type: 'openai', backend: 'sim' }],
      products: [{ id: 'std', apis: ['openai'] }],
      subscriptions: [
        { id: 'team-b', key, product: 'std', budget: { monthlyTokens: 1, onExceeded: 'block' } },
      ],
    }),
    { port: 0, logger: pino({ level: 'silent' }) },
  );
  const url = `${gateway.url.replace('http', 'ws')}/openai/v1/realtime?model=gpt-realtime`;
  try {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${key}` } });
    const done = new Promise<void>((resolve) =>
      ws.on('message', (data: Buffer) => {
        if (data.toString().includes('"response.done"')) resolve();
      }),
    );
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.send(JSON.stringify({ type: 'response.create', response: { output_modalities: ['text'] } }));
    await done;
    ws.close();
    await closed(ws);
    const simRequests = sim.stats().requests;
    const refused = new WebSocket(url, { headers: { authorization: `Bearer ${key}` } });
    const status = await new Promise<number>((resolve, reject) => {
      refused.once('open', () => reject(new Error('the upgrade was accepted')));
      refused.once('error', () => undefined);
      refused.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    });
    assert.equal(status, 429);
    assert.equal(sim.stats().requests, simRequests);
    assert.equal(readLedgerRows(ledgerPath).length, 1);
  } finally {
    await gateway.close();
    await sim.close();
  }
});
