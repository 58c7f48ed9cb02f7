// Cohere end to end: fetch clients (the `cohere-ai` npm client is not a dependency) → a real
// in-process gateway → the simulator speaking Cohere's v2 API. The ledger must hold what Cohere
// bills (`billed_units`), never the larger `tokens` counts, and rerank's search units are not tokens.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { readLedgerRows, type LedgerRow } from '../helpers/ledger-rows.js';

const KEY = 'team-cohere-key-1';
const BACKEND_KEY = 'co-upstream-key';
const COMPLETION = 7;
let sim: Simulator;
let gateway: Gateway;
let ledgerPath: string;

before(async () => {
  sim = await startSimulator({ completionTokens: COMPLETION });
  ledgerPath = join(mkdtempSync(join(tmpdir(), 'tokenmeter-cohere-')), 'ledger.db');
  const config = configSchema.parse({
    gateway: { host: '127.0.0.1', port: 0 },
    ledger: `sqlite:${ledgerPath}`,
    backends: [{ id: 'co', type: 'cohere', url: sim.url, apiKey: BACKEND_KEY }],
    apis: [{ id: 'cohere', path: '/cohere', type: 'cohere', backend: 'co' }],
    products: [{ id: 'std', apis: ['cohere'] }],
    subscriptions: [{ id: 'team-co', key: KEY, product: 'std' }],
  });
  gateway = await startGateway(config, { port: 0, logger: pino({ level: 'silent' }) });
});

after(async () => {
  await gateway.close();
  await sim.close();
});

const messages = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'How many tokens does this sentence have?' },
];

async function post(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; contentType: string; text: string }> {
  const res = await fetch(`${gateway.url}/cohere${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text() };
}

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

const sum = (rows: readonly LedgerRow[], column: string): number =>
  rows.reduce((total, row) => total + ((row[column] as number | null) ?? 0), 0);

test('chat (JSON and SSE) and embed are billed on billed_units; rerank is forwarded, not metered', async () => {
  sim.resetStats();
  const before = readLedgerRows(ledgerPath).length;
  const unary = await post('/v2/chat', { model: 'command-a-03-2025', messages });
  assert.equal(unary.status, 200);
  const usage = (
    JSON.parse(unary.text) as {
      usage: { billed_units: Record<string, number>; tokens: Record<string, number> };
    }
  ).usage;
  assert.ok(usage.tokens['input_tokens']! > usage.billed_units['input_tokens']!);
  assert.equal(sim.stats().lastRequest?.headers['authorization'], `Bearer ${BACKEND_KEY}`);
  assert.ok(!JSON.stringify(sim.stats().lastRequest?.headers).includes(KEY));

  const stream = await post('/v2/chat', { model: 'command-a-03-2025', messages, stream: true });
  assert.equal(stream.contentType, 'text/event-stream');
  assert.match(stream.text, /event: message-end\n/);
  assert.ok(stream.text.endsWith('data: [DONE]\n\n'));

  const embed = await post('/v2/embed', {
    model: 'embed-v4.0',
    texts: ['first text', 'second'],
    input_type: 'search_document',
    embedding_types: ['float'],
  });
  assert.equal(embed.status, 200);
  const rerank = await post('/v2/rerank', { model: 'rerank-v3.5', query: 'q', documents: ['a', 'b'] });
  assert.match(rerank.text, /"search_units":1/);

  const stats = sim.stats();
  assert.equal(stats.requests, 4);
  const rows = await rowsAfter(before, 3);
  assert.deepEqual(
    rows.map((r) => [r.operation, r.model, r.stream, r.source, r.provider]),
    [
      ['chat', 'command-a-03-2025', 0, 'reported', 'cohere'],
      ['chat', 'command-a-03-2025', 1, 'reported', 'cohere'],
      ['embed', 'embed-v4.0', 0, 'reported', 'cohere'],
    ],
  );
  assert.equal(rows[0]?.prompt_tokens, usage.billed_units['input_tokens']);
  assert.equal(rows[0]?.completion_tokens, usage.billed_units['output_tokens']);
  assert.equal(sum(rows, 'prompt_tokens'), stats.promptTokens);
  assert.equal(sum(rows, 'completion_tokens'), stats.completionTokens);
  assert.equal(rows[1]?.total_tokens, rows[0]?.total_tokens);
  assert.equal(rows[2]?.completion_tokens, null);
});

test('a stream cut mid-way is partial; an ERROR message-end is not billed as tokens; the gateway keeps serving', async () => {
  const before = readLedgerRows(ledgerPath).length;
  await post(
    '/v2/chat',
    { model: 'command-r', messages, stream: true },
    { 'x-simulator-fail': 'cut-stream' },
  ).catch(() => undefined);
  const errored = await post(
    '/v2/chat',
    { model: 'command-r', messages, stream: true },
    { 'x-simulator-fail': 'stream-error' },
  );
  assert.match(errored.text, /"finish_reason":"ERROR"/);
  const malformed = await post(
    '/v2/chat',
    { model: 'command-r', messages, stream: true },
    { 'x-simulator-fail': 'invalid-json' },
  );
  assert.equal(malformed.status, 200);
  const [cut, error, bad] = await rowsAfter(before, 3);
  assert.equal(cut?.source, 'partial');
  assert.ok((cut?.completion_tokens as number) > 0 && (cut?.completion_tokens as number) < COMPLETION);
  assert.equal(error?.completion_tokens, null);
  // A malformed event before the rest: skipped, the message-end still billed, once.
  assert.equal(bad?.source, 'reported');
  assert.equal(bad?.completion_tokens, COMPLETION);
  assert.equal((await post('/v2/chat', { model: 'command-r', messages })).status, 200);
});
