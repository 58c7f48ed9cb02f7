// Ollama end to end: fetch clients (the `ollama` npm client is not a dependency) → a real
// in-process gateway → the simulator speaking Ollama's native API (NDJSON streams). The ledger
// must agree with what the simulator says it answered; a malformed NDJSON line, a stream cut
// mid-way and an in-stream error are metered once, as documented.
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

const KEY = 'team-ollama-key-1';
const CLOUD_KEY = 'ollama-cloud-upstream-key';
const COMPLETION = 9;
let sim: Simulator;
let gateway: Gateway;
let ledgerPath: string;

before(async () => {
  sim = await startSimulator({ completionTokens: COMPLETION });
  ledgerPath = join(mkdtempSync(join(tmpdir(), 'tokenmeter-ollama-')), 'ledger.db');
  const config = configSchema.parse({
    gateway: { host: '127.0.0.1', port: 0 },
    ledger: `sqlite:${ledgerPath}`,
    backends: [
      { id: 'local', type: 'ollama', url: sim.url },
      { id: 'cloud', type: 'ollama', url: sim.url, apiKey: CLOUD_KEY },
    ],
    apis: [
      { id: 'ollama', path: '/ollama', type: 'ollama', backend: 'local' },
      { id: 'ollama-cloud', path: '/ollama-cloud', type: 'ollama', backend: 'cloud' },
    ],
    products: [{ id: 'std', apis: ['ollama', 'ollama-cloud'] }],
    subscriptions: [{ id: 'team-local', key: KEY, product: 'std' }],
  });
  gateway = await startGateway(config, { port: 0, logger: pino({ level: 'silent' }) });
});

after(async () => {
  await gateway.close();
  await sim.close();
});

const messages = [{ role: 'user', content: 'How many tokens does this sentence have?' }];

async function post(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; contentType: string; text: string }> {
  const res = await fetch(`${gateway.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text() };
}

/** The objects of an NDJSON body. */
function lines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
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

test('chat and generate, streamed by default and not, embed and legacy embeddings are metered exactly', async () => {
  sim.resetStats();
  const before = readLedgerRows(ledgerPath).length;

  const stream = await post('/ollama/api/chat', { model: 'llama3', messages });
  assert.equal(stream.status, 200);
  assert.equal(stream.contentType, 'application/x-ndjson');
  const streamed = lines(stream.text);
  assert.equal(streamed.length, COMPLETION + 1);
  assert.equal(streamed.at(-1)?.['done'], true);

  const unary = await post('/ollama/api/chat', { model: 'llama3', messages, stream: false });
  assert.match(unary.contentType, /^application\/json/);
  const final = JSON.parse(unary.text) as Record<string, unknown>;
  assert.equal(final['eval_count'], COMPLETION);

  const generate = await post('/ollama/api/generate', { model: 'llama3', prompt: 'Why is the sky blue?' });
  assert.equal(lines(generate.text).length, COMPLETION + 1);
  // Thinking is generated output: inside eval_count, no reasoning count of its own.
  const thinking = await post('/ollama/api/generate', {
    model: 'qwen3',
    prompt: 'Think first.',
    think: true,
  });
  const thought = lines(thinking.text);
  assert.ok(thought.some((line) => typeof line['thinking'] === 'string' && line['thinking'] !== ''));
  assert.equal(thought.at(-1)?.['eval_count'], COMPLETION + 8);
  await post('/ollama/api/generate', { model: 'llama3', prompt: 'Why is the sky blue?', stream: false });
  const embed = await post('/ollama/api/embed', {
    model: 'all-minilm',
    input: ['first text', 'second text'],
  });
  assert.equal((JSON.parse(embed.text) as { embeddings: unknown[] }).embeddings.length, 2);
  const legacy = await post('/ollama/api/embeddings', { model: 'all-minilm', prompt: 'legacy text' });
  assert.equal(legacy.status, 200);

  const stats = sim.stats();
  assert.equal(stats.errors, 0);
  const rows = await rowsAfter(before, 7);
  assert.deepEqual(
    rows.map((r) => [r.operation, r.model, r.stream, r.source, r.provider]),
    [
      ['chat', 'llama3', 1, 'reported', 'ollama'],
      ['chat', 'llama3', 0, 'reported', 'ollama'],
      ['generate', 'llama3', 1, 'reported', 'ollama'],
      ['generate', 'qwen3', 1, 'reported', 'ollama'],
      ['generate', 'llama3', 0, 'reported', 'ollama'],
      ['embed', 'all-minilm', 0, 'reported', 'ollama'],
      // No count in the legacy answer: the prompt is estimated (o200k, as the simulator counts).
      ['embeddings', 'all-minilm', 0, 'estimated', 'ollama'],
    ],
  );
  assert.equal(sum(rows, 'prompt_tokens'), stats.promptTokens);
  assert.equal(sum(rows, 'completion_tokens'), stats.completionTokens);
  assert.ok(rows.every((r) => r.reasoning_tokens === null && r.cached_tokens === null));
  // Streamed and not, the same request is billed the same.
  assert.equal(rows[0]?.total_tokens, rows[1]?.total_tokens);
  assert.equal(rows[2]?.total_tokens, rows[4]?.total_tokens);
});

test('no credential goes to a keyless backend; an apiKey backend gets it as a Bearer token', async () => {
  await post('/ollama/api/chat', { model: 'llama3', messages, stream: false });
  const local = sim.stats().lastRequest;
  assert.equal(local?.headers['authorization'], undefined);
  assert.ok(!JSON.stringify(local?.headers).includes(KEY));
  await post('/ollama-cloud/api/chat', { model: 'gpt-oss:120b', messages, stream: false });
  assert.equal(sim.stats().lastRequest?.headers['authorization'], `Bearer ${CLOUD_KEY}`);
});

test('a malformed NDJSON line mid-stream: the bytes reach the client, the final object is billed once', async () => {
  const before = readLedgerRows(ledgerPath).length;
  const clean = await post('/ollama/api/chat', { model: 'llama3', messages });
  const broken = await post(
    '/ollama/api/chat',
    { model: 'llama3', messages },
    { 'x-simulator-fail': 'invalid-json' },
  );
  assert.equal(broken.status, 200);
  const all = broken.text.split('\n').filter((line) => line !== '');
  assert.equal(all.length, COMPLETION + 2);
  assert.throws(() => lines(broken.text));
  const last = JSON.parse(all.at(-1) ?? '') as Record<string, number>;
  const [cleanRow, brokenRow] = await rowsAfter(before, 2);
  assert.equal(brokenRow?.source, 'reported');
  assert.equal(brokenRow?.prompt_tokens, last['prompt_eval_count']);
  assert.equal(brokenRow?.completion_tokens, last['eval_count']);
  assert.equal(brokenRow?.total_tokens, cleanRow?.total_tokens);
  assert.ok(clean.text.length > 0);
});

test('a stream cut mid-way is one partial record; an in-stream error line is not billed as tokens', async () => {
  const before = readLedgerRows(ledgerPath).length;
  await post('/ollama/api/chat', { model: 'llama3', messages }, { 'x-simulator-fail': 'cut-stream' }).catch(
    () => undefined,
  );
  const errored = await post(
    '/ollama/api/chat',
    { model: 'llama3', messages },
    { 'x-simulator-fail': 'stream-error' },
  );
  assert.match(errored.text, /"error"/);
  const [cut, error] = await rowsAfter(before, 2);
  assert.equal(cut?.source, 'partial');
  // Nothing was reported before the cut: the prompt and the text that arrived are estimated.
  assert.ok((cut?.prompt_tokens as number) > 0);
  assert.ok((cut?.completion_tokens as number) > 0 && (cut?.completion_tokens as number) < COMPLETION);
  assert.equal(error?.prompt_tokens, null);
  assert.equal(error?.completion_tokens, null);
  // The gateway keeps serving.
  assert.equal((await post('/ollama/api/chat', { model: 'llama3', messages, stream: false })).status, 200);
});
