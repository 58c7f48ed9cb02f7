import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { findProvider } from '@pydantic/genai-prices';
import { Command } from 'commander';
import { pino } from 'pino';
import { CliInputError } from '../../src/cli/cli-error.js';
import { addUsageCommand } from '../../src/cli/usage-command.js';
import { configSchema } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import type { UsageRow } from '../../src/reports/usage-query.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { readLedgerRows } from '../helpers/ledger-rows.js';

/**
 * Issue #9, items 1 and 2 on the call path: a gateway with a simulator backend and an `openai`
 * backend whose url is another server prices catalog models by name (embeddings included),
 * stores a model without a price as cost NULL, and `tokenmeter usage` says so.
 */

const KEY = 'team-price-key-1';
let sim: Simulator;
let gateway: Gateway;
let ledgerPath: string;

before(async () => {
  sim = await startSimulator({ completionTokens: 6 });
  ledgerPath = join(mkdtempSync(join(tmpdir(), 'tokenmeter-unpriced-')), 'ledger.db');
  const config = configSchema.parse({
    gateway: { host: '127.0.0.1', port: 0 },
    ledger: `sqlite:${ledgerPath}`,
    backends: [
      { id: 'sim', type: 'simulator' },
      // An OpenAI-compatible server (here: a simulator on its own) under type openai.
      { id: 'compat', type: 'openai', url: `${sim.url}/v1`, apiKey: 'sk-up' },
    ],
    apis: [
      { id: 'on-sim', path: '/sim/v1', type: 'openai', backend: 'sim' },
      { id: 'on-compat', path: '/compat/v1', type: 'openai', backend: 'compat' },
    ],
    products: [{ id: 'std', apis: ['on-sim', 'on-compat'] }],
    subscriptions: [{ id: 'team-a', key: KEY, product: 'std' }],
  });
  gateway = await startGateway(config, { port: 0, logger: pino({ level: 'silent' }) });
});

after(async () => {
  await gateway.close();
  await sim.close();
});

async function post(path: string, body: unknown): Promise<void> {
  const res = await fetch(gateway.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, await res.text());
}

async function usage(args: string[]): Promise<string> {
  let out = '';
  const program = new Command().exitOverride();
  addUsageCommand(program, () => `sqlite:${ledgerPath}`, { stdout: (t) => (out += t) });
  await program.parseAsync(['usage', ...args], { from: 'user' });
  return out;
}

const inputRate = (modelId: string): number => {
  const prices = findProvider({ providerId: 'openai' })?.models.find((m) => m.id === modelId)?.prices;
  const rate = prices !== undefined && !Array.isArray(prices) ? prices['input_mtok'] : undefined;
  assert.ok(typeof rate === 'number');
  return rate;
};

describe('prices on the call path', () => {
  before(async () => {
    const input = 'one two three four five six seven eight';
    await post('/sim/v1/embeddings', { model: 'text-embedding-3-small', input });
    await post('/compat/v1/embeddings', { model: 'text-embedding-3-small', input });
    await post('/sim/v1/chat/completions', {
      model: 'house-model',
      messages: [{ role: 'user', content: input }],
    });
  });

  test('embeddings on a simulator and on an OpenAI-compatible server are priced from the catalog', () => {
    const rows = readLedgerRows(ledgerPath).filter((r) => r['model'] === 'text-embedding-3-small');
    assert.deepEqual(rows.map((r) => r['backend']).sort(), ['compat', 'sim']);
    for (const row of rows) {
      const prompt = Number(row['prompt_tokens']);
      assert.ok(prompt > 0);
      assert.equal(row['cost'], (prompt * inputRate('text-embedding-3-small')) / 1e6);
    }
  });

  test('a model without a price is stored with cost NULL, not 0', () => {
    const [row] = readLedgerRows(ledgerPath).filter((r) => r['model'] === 'house-model');
    assert.ok(row !== undefined && Number(row['total_tokens']) > 0);
    assert.equal(row['cost'], null);
  });

  test('usage rows carry unpricedTokens and unpricedRequests, in json and csv', async () => {
    const rows = JSON.parse(await usage(['--by', 'model', '--format', 'json'])) as UsageRow[];
    const house = rows.find((r) => r['model'] === 'house-model');
    const embeddings = rows.find((r) => r['model'] === 'text-embedding-3-small');
    assert.ok(house !== undefined && embeddings !== undefined);
    assert.equal(house.unpricedRequests, 1);
    assert.equal(house.unpricedTokens, house.totalTokens);
    assert.equal(house.cost, null);
    assert.equal(embeddings.unpricedRequests, 0);
    assert.equal(embeddings.unpricedTokens, 0);
    const csv = (await usage(['--by', 'model', '--format', 'csv'])).trim().split('\r\n');
    const header = csv[0]?.split(',') ?? [];
    const houseLine = csv.find((l) => l.startsWith('house-model,'))?.split(',') ?? [];
    assert.equal(houseLine[header.indexOf('unpricedRequests')], '1');
    assert.equal(houseLine[header.indexOf('unpricedTokens')], String(house.totalTokens));
    assert.match(await usage(['--by', 'model']), /unpriced tokens\s+unpriced$/m);
  });

  test('--where priced=false --by model lists what lacks a price; priced=true the rest', async () => {
    const unpriced = JSON.parse(
      await usage(['--where', 'priced=false', '--by', 'model', '--format', 'json']),
    ) as UsageRow[];
    assert.deepEqual(
      unpriced.map((r) => [r['model'], r.requests]),
      [['house-model', 1]],
    );
    const priced = JSON.parse(
      await usage(['--where', 'priced=true', '--by', 'model', '--format', 'json']),
    ) as UsageRow[];
    assert.deepEqual(
      priced.map((r) => [r['model'], r.requests, r.unpricedRequests]),
      [['text-embedding-3-small', 2, 0]],
    );
  });

  test('a bad priced value is bad input (exit 2)', async () => {
    await assert.rejects(
      usage(['--where', 'priced=maybe']),
      (err: unknown) => err instanceof CliInputError && err.exitCode === 2,
    );
  });
});
