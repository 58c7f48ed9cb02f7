// Bad answers from an Ollama or Cohere backend through a real in-process gateway (a raw TCP
// backend that sends exactly the bytes scripted): an NDJSON line over gateway.maxEventBytes,
// absurd counts, a malformed final line, a stream cut mid-line; Cohere answers with `tokens`
// only, with search units only, with absurd billed units. Each ends in a clear record, nothing
// counted twice, and the gateway keeps serving.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { readLedgerRows, type LedgerRow } from '../helpers/ledger-rows.js';
import { httpAnswer, startRogueBackend, type RogueBackend } from '../helpers/rogue-backend.js';

const KEY = 'team-bad-input-key';
let rogue: RogueBackend;
let gateway: Gateway;
let ledgerPath: string;

before(async () => {
  rogue = await startRogueBackend();
  ledgerPath = join(mkdtempSync(join(tmpdir(), 'tokenmeter-oc-bad-')), 'ledger.db');
  const config = configSchema.parse({
    gateway: { host: '127.0.0.1', port: 0, maxEventBytes: 4096 },
    ledger: `sqlite:${ledgerPath}`,
    backends: [
      { id: 'rogue-ollama', type: 'ollama', url: rogue.url },
      { id: 'rogue-cohere', type: 'cohere', url: rogue.url, apiKey: 'co-up' },
    ],
    apis: [
      { id: 'ollama', path: '/ollama', type: 'ollama', backend: 'rogue-ollama' },
      { id: 'cohere', path: '/cohere', type: 'cohere', backend: 'rogue-cohere' },
    ],
    products: [{ id: 'std', apis: ['ollama', 'cohere'] }],
    subscriptions: [{ id: 'team-a', key: KEY, product: 'std' }],
  });
  gateway = await startGateway(config, { port: 0, logger: pino({ level: 'silent' }) });
});

after(async () => {
  await gateway.close();
  await rogue.close();
});

/**
 * The ledger rows after the first `before`, once there are `count` of them: records are shipped
 * from the outbox by a worker, which a loaded machine may start late (waits up to 15 s).
 */
async function rowsAfter(before: number, count: number): Promise<LedgerRow[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const rows = readLedgerRows(ledgerPath).slice(before);
    if (rows.length >= count || Date.now() > deadline) return rows;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function call(
  path: string,
  body: unknown,
  answer: Buffer[] | Buffer,
): Promise<{ status: number; text: string; row: LedgerRow | undefined }> {
  const steps = (Array.isArray(answer) ? answer : [answer]).map((write) => ({ write }));
  rogue.script(() => steps);
  const before = readLedgerRows(ledgerPath).length;
  const res = await fetch(`${gateway.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify(body),
  });
  const text = await res.text().catch(() => '');
  const rows = await rowsAfter(before, 1);
  assert.ok(rows.length <= 1, 'one record per call');
  return { status: res.status, text, row: rows[0] };
}

const CHAT = { model: 'llama3', messages: [{ role: 'user', content: 'Tell me a joke' }] };
const ndjson = (lines: string[]): Buffer =>
  httpAnswer(200, { 'content-type': 'application/x-ndjson' }, lines.map((l) => `${l}\n`).join(''));
const piece = (content: string): string =>
  JSON.stringify({ model: 'llama3', message: { role: 'assistant', content }, done: false });
const final = (extra: Record<string, unknown> = {}): string =>
  JSON.stringify({
    model: 'llama3',
    message: { role: 'assistant', content: '' },
    done: true,
    done_reason: 'stop',
    prompt_eval_count: 12,
    eval_count: 3,
    eval_duration: 9_000_000_000,
    ...extra,
  });

describe('ollama', () => {
  test('a line over maxEventBytes is forwarded unread; the final object is still billed', async () => {
    const huge = piece('x'.repeat(10_000));
    const { status, text, row } = await call('/ollama/api/chat', CHAT, ndjson([piece('A'), huge, final()]));
    assert.equal(status, 200);
    assert.ok(text.includes(huge), 'the bytes reach the client');
    assert.equal(row?.source, 'reported');
    assert.equal(row?.prompt_tokens, 12);
    assert.equal(row?.completion_tokens, 3);
    assert.equal(row?.flags, 'event_too_large');
  });

  test('absurd counts are not billed: estimated and flagged usage_invalid', async () => {
    const { row } = await call(
      '/ollama/api/chat',
      CHAT,
      ndjson([piece('Hello there'), final({ eval_count: 1e20 })]),
    );
    assert.equal(row?.source, 'estimated');
    assert.match(String(row?.flags), /usage_invalid/);
    assert.ok((row?.completion_tokens as number) < 100);
  });

  test('malformed lines are skipped; a malformed final line leaves the call estimated, not billed twice', async () => {
    const skipped = await call(
      '/ollama/api/chat',
      CHAT,
      ndjson([piece('A'), '{"model":"llama3","message":', '\u0000garbage', final()]),
    );
    assert.equal(skipped.row?.source, 'reported');
    assert.equal(skipped.row?.completion_tokens, 3);
    const lost = await call('/ollama/api/chat', CHAT, ndjson([piece('Hello'), final().slice(0, 50)]));
    assert.equal(lost.row?.source, 'partial');
    assert.ok((lost.row?.prompt_tokens as number) > 0);
  });

  test('a stream cut mid-line is partial; the gateway keeps serving', async () => {
    const head = Buffer.from(
      'HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n',
    );
    const body = `${piece('Hello')}\n${final().slice(0, 30)}`;
    const chunk = Buffer.from(`${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n`);
    rogue.script(() => [{ write: head }, { write: chunk }, { pause: 20 }, { destroy: true }]);
    const before = readLedgerRows(ledgerPath).length;
    await fetch(`${gateway.url}/ollama/api/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: JSON.stringify(CHAT),
    })
      .then((res) => res.text())
      .catch(() => '');
    const [row] = await rowsAfter(before, 1);
    assert.equal(row?.source, 'partial');
    const next = await call('/ollama/api/chat', CHAT, ndjson([piece('A'), final()]));
    assert.equal(next.row?.completion_tokens, 3);
  });
});

describe('cohere', () => {
  const json = (body: unknown): Buffer =>
    httpAnswer(200, { 'content-type': 'application/json' }, JSON.stringify(body));
  const CO = { model: 'command-r', messages: [{ role: 'user', content: 'Hi there' }] };

  test('billed_units missing: the `tokens` counts are recorded', async () => {
    const { row } = await call(
      '/cohere/v2/chat',
      CO,
      json({
        id: '1',
        message: { role: 'assistant', content: [{ type: 'text', text: 'Hi' }] },
        finish_reason: 'COMPLETE',
        usage: { tokens: { input_tokens: 70, output_tokens: 2 } },
      }),
    );
    assert.deepEqual([row?.source, row?.prompt_tokens, row?.completion_tokens], ['reported', 70, 2]);
  });

  test('search units and classifications are never tokens: the call is estimated', async () => {
    const { row } = await call(
      '/cohere/v2/chat',
      CO,
      json({
        id: '1',
        message: { role: 'assistant', content: [{ type: 'text', text: 'Hi' }] },
        usage: { billed_units: { search_units: 40, classifications: 7 } },
      }),
    );
    assert.equal(row?.source, 'estimated');
    assert.ok((row?.prompt_tokens as number) < 40);
  });

  test('absurd billed units are not billed', async () => {
    const { row } = await call(
      '/cohere/v2/chat',
      CO,
      json({
        id: '1',
        message: { role: 'assistant', content: [{ type: 'text', text: 'Hi' }] },
        usage: { billed_units: { input_tokens: -4, output_tokens: 2 } },
      }),
    );
    assert.equal(row?.source, 'estimated');
    assert.match(String(row?.flags), /usage_invalid/);
  });
});
