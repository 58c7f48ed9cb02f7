// Gemini end to end: raw fetch clients (no Google SDK is installed) → a real `tokenmeter serve`
// process → the simulator speaking Gemini's wire format. The ledger must agree with what the
// simulator says it answered, and no client key may ever reach the backend.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { readLedgerRows, type LedgerRow } from '../helpers/ledger-rows.js';

const KEYS = { header: 'AIza-team-header-1', query: 'AIza team/query+2' };
const BACKEND_KEY = 'AIza-backend-upstream';
const MODEL = 'gemini-2.5-flash';
const body = {
  systemInstruction: { parts: [{ text: 'You are terse.' }] },
  contents: [{ role: 'user', parts: [{ text: 'How many tokens does this sentence have?' }] }],
  generationConfig: { thinkingConfig: { thinkingBudget: 12 } },
};

let sim: Simulator;
let gw: GatewayProcess;

before(async () => {
  sim = await startSimulator({ completionTokens: 9 });
  gw = await startGatewayProcess({
    backends: [{ id: 'google', type: 'gemini', url: sim.url, apiKey: BACKEND_KEY }],
    apis: [{ id: 'gemini', path: '/gemini', type: 'gemini', backend: 'google' }],
    products: [{ id: 'std', apis: ['gemini'] }],
    subscriptions: [
      { id: 'team-header', key: KEYS.header, product: 'std' },
      { id: 'team-query', key: KEYS.query, product: 'std' },
    ],
  });
});

after(async () => {
  await gw.stop();
  await sim.close();
});

async function post(
  path: string,
  headers: Record<string, string> = { 'x-goog-api-key': KEYS.header },
  extraHeaders: Record<string, string> = {},
): Promise<{ status: number; contentType: string; text: string }> {
  const res = await fetch(`${gw.url}/gemini${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers, ...extraHeaders },
    body: JSON.stringify(body),
  });
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text() };
}

const queryKey = `key=${encodeURIComponent(KEYS.query)}`;

/** The backend saw its own key only: no client key in the path, the query or any header. */
function assertUpstreamCredentials(expectedPath: string): void {
  const last = sim.stats().lastRequest;
  assert.ok(last);
  assert.equal(last.path, expectedPath);
  assert.equal(last.headers['x-goog-api-key'], BACKEND_KEY);
  const seen = JSON.stringify(last.headers) + last.path;
  for (const key of [KEYS.header, KEYS.query, encodeURIComponent(KEYS.query)])
    assert.ok(!seen.includes(key), key);
}

function sum(rows: readonly LedgerRow[], column: string): number {
  return rows.reduce((total, row) => total + ((row[column] as number | null) ?? 0), 0);
}

test('generate, stream (SSE and JSON array), countTokens and Vertex calls are metered exactly', async () => {
  const unary = await post(`/v1beta/models/${MODEL}:generateContent`);
  assert.equal(unary.status, 200);
  assert.match(unary.text, /"thoughtsTokenCount": 12/);
  assertUpstreamCredentials(`/v1beta/models/${MODEL}:generateContent`);

  // ?key= in the query: authenticates the client, then is taken out; alt=sse stays.
  const sse = await post(`/v1beta/models/${MODEL}:streamGenerateContent?${queryKey}&alt=sse`, {});
  assert.equal(sse.status, 200);
  assert.equal(sse.contentType, 'text/event-stream');
  assert.equal(sse.text.split('\r\n\r\n').filter((e) => e.startsWith('data: ')).length, 10);
  assertUpstreamCredentials(`/v1beta/models/${MODEL}:streamGenerateContent?alt=sse`);

  const array = await post(`/v1beta/models/${MODEL}:streamGenerateContent?${queryKey}`, {});
  assert.equal(array.status, 200);
  assert.match(array.contentType, /^application\/json/);
  assert.equal((JSON.parse(array.text) as unknown[]).length, 10);
  assertUpstreamCredentials(`/v1beta/models/${MODEL}:streamGenerateContent`);

  const count = await post(`/v1beta/models/${MODEL}:countTokens`);
  assert.equal(count.status, 200);
  assert.ok((JSON.parse(count.text) as { totalTokens: number }).totalTokens > 0);

  const vertex =
    '/v1/projects/acme/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent';
  assert.equal((await post(vertex)).status, 200);
  assertUpstreamCredentials(vertex);

  const upstream = sim.stats();
  assert.equal(upstream.requests, 5);
  assert.equal(upstream.errors, 0);
  const rows = readLedgerRows(gw.ledgerPath);
  // countTokens is forwarded but never billed: no record.
  assert.equal(rows.length, 4);
  assert.ok(rows.every((r) => r.operation !== 'countTokens'));
  assert.equal(sum(rows, 'prompt_tokens'), upstream.promptTokens);
  assert.equal(sum(rows, 'completion_tokens'), upstream.completionTokens);
  assert.equal(sum(rows, 'total_tokens'), upstream.totalTokens);
  assert.equal(sum(rows, 'reasoning_tokens'), 4 * 12);
  assert.ok(rows.every((r) => r.source === 'reported' && r.status === 200 && r.provider === 'gemini'));
  assert.ok(rows.every((r) => r.cached_tokens === null && r.cache_write_tokens === null));

  assert.deepEqual(
    rows.map((r) => [r.operation, r.model, r.response_model, r.stream, r.subscription]),
    [
      ['generateContent', MODEL, MODEL, 0, 'team-header'],
      ['streamGenerateContent', MODEL, MODEL, 1, 'team-query'],
      ['streamGenerateContent', MODEL, MODEL, 1, 'team-query'],
      ['generateContent', 'gemini-2.5-pro', 'gemini-2.5-pro', 0, 'team-header'],
    ],
  );
  // Streamed and unary answers to the same request are billed the same (cumulative usage, never summed).
  assert.equal(rows[1]?.total_tokens, rows[0]?.total_tokens);
  assert.equal(rows[2]?.total_tokens, rows[0]?.total_tokens);
});

test('a wrong key, in the header or the query, is refused and nothing is forwarded', async () => {
  const forwarded = sim.stats().requests;
  const rowsBefore = readLedgerRows(gw.ledgerPath).length;
  const header = await post(`/v1beta/models/${MODEL}:generateContent`, { 'x-goog-api-key': 'AIza-wrong' });
  const query = await post(`/v1beta/models/${MODEL}:generateContent?key=AIza-wrong`, {});
  const none = await post(`/v1beta/models/${MODEL}:generateContent`, {});
  assert.deepEqual([header.status, query.status, none.status], [401, 401, 401]);
  assert.equal(sim.stats().requests, forwarded);
  assert.equal(readLedgerRows(gw.ledgerPath).length, rowsBefore);
});

test('a stream cut mid-way is a partial record with the usage of the chunks that arrived', async () => {
  for (const path of [
    `/v1beta/models/${MODEL}:streamGenerateContent?alt=sse`,
    `/v1beta/models/${MODEL}:streamGenerateContent`,
  ]) {
    const rowsBefore = readLedgerRows(gw.ledgerPath).length;
    // The client sees the cut too (the body fails); the record is committed before that.
    await assert.rejects(post(path, undefined, { 'x-simulator-fail': 'cut-stream' }));
    const rows = readLedgerRows(gw.ledgerPath);
    const row = rows.at(-1);
    assert.equal(rows.length, rowsBefore + 1, path);
    assert.equal(row?.source, 'partial', path);
    // Three chunks arrived: three candidate tokens plus the thinking tokens reported with them.
    assert.equal(row.completion_tokens, 3 + 12, path);
    assert.equal(row.reasoning_tokens, 12, path);
  }
});

test('an error object mid-stream is recorded with the usage seen before it', async () => {
  const rowsBefore = readLedgerRows(gw.ledgerPath).length;
  const res = await post(`/v1beta/models/${MODEL}:streamGenerateContent`, undefined, {
    'x-simulator-fail': 'stream-error',
  });
  assert.equal(res.status, 200);
  const elements = JSON.parse(res.text) as { error?: { status: string } }[];
  assert.equal(elements.at(-1)?.error?.status, 'INTERNAL');
  const rows = readLedgerRows(gw.ledgerPath);
  assert.equal(rows.length, rowsBefore + 1);
  assert.equal(rows.at(-1)?.completion_tokens, 3 + 12);
  assert.equal(rows.at(-1)?.source, 'reported');
});
