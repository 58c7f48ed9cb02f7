// The official @anthropic-ai/sdk as client, through a real gateway process, against the
// simulator speaking the Anthropic Messages wire format.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { FAIL_HEADER, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { readLedgerRows, type LedgerRow } from '../helpers/ledger-rows.js';

const KEY = 'key-team-claude-1';
const BACKEND_KEY = 'sk-ant-upstream-secret';
const API_PATH = '/anthropic';

let sim: Simulator;
let gw: GatewayProcess;
let client: Anthropic;

before(async () => {
  sim = await startSimulator({ completionTokens: 12 });
  gw = await startGatewayProcess({
    gateway: { id: 'gw-test', location: 'westeurope' },
    backends: [{ id: 'claude', type: 'anthropic', url: sim.url, apiKey: BACKEND_KEY }],
    apis: [{ id: 'anthropic', path: API_PATH, type: 'anthropic', backend: 'claude' }],
    products: [{ id: 'std', apis: ['anthropic'] }],
    subscriptions: [{ id: 'team-claude', key: KEY, product: 'std', costCenter: 'CC-7' }],
  });
  client = new Anthropic({ baseURL: gw.url + API_PATH, apiKey: KEY, maxRetries: 0 });
});

after(async () => {
  await gw.stop();
  await sim.close();
});

let rowsBefore = 0;
beforeEach(() => {
  sim.resetStats();
  rowsBefore = readLedgerRows(gw.ledgerPath).length;
});

/** The ledger rows written since the test began. */
function newRows(): LedgerRow[] {
  return readLedgerRows(gw.ledgerPath).slice(rowsBefore);
}

const sum = (rows: LedgerRow[], col: string): number =>
  rows.reduce((a, r) => a + ((r[col] as number | null) ?? 0), 0);

const messages = [{ role: 'user' as const, content: 'How many tokens does this sentence have?' }];

test('streamed and non-streamed messages are metered exactly; count_tokens is forwarded, not billed', async () => {
  const message = await client.messages.create(
    { model: 'claude-sonnet-5', max_tokens: 64, messages, metadata: { user_id: 'user-7' } },
    { headers: { 'anthropic-beta': 'sim-beta-2026' } },
  );
  assert.equal(message.usage.output_tokens, 12);

  // The SDK's stream helper: it accumulates message_delta itself and must agree with the ledger.
  const final = await client.messages
    .stream({ model: 'claude-sonnet-5', max_tokens: 5, system: 'Be brief.', messages })
    .finalMessage();
  assert.equal(final.usage.output_tokens, 5);
  assert.equal(final.stop_reason, 'max_tokens');

  // The raw event iterator: the client sees every event the simulator sent.
  const seen: string[] = [];
  for await (const event of await client.messages.create({
    model: 'claude-sonnet-5',
    max_tokens: 64,
    messages,
    stream: true,
  }))
    seen.push(event.type);
  assert.equal(seen[0], 'message_start');
  assert.equal(seen.at(-1), 'message_stop');
  assert.equal(seen.filter((t) => t === 'content_block_delta').length, 12);

  const counted = await client.messages.countTokens({ model: 'claude-sonnet-5', messages });
  assert.ok(counted.input_tokens > 0);

  const upstream = sim.stats();
  assert.equal(upstream.requests, 4);
  const rows = newRows();
  assert.equal(rows.length, 3, 'count_tokens writes no record');
  assert.equal(sum(rows, 'prompt_tokens'), upstream.promptTokens);
  assert.equal(sum(rows, 'completion_tokens'), upstream.completionTokens);
  assert.equal(sum(rows, 'total_tokens'), upstream.totalTokens);
  assert.deepEqual(
    rows.map((r) => [r.operation, r.stream, r.source, r.status, r.cached_tokens, r.cache_write_tokens]),
    [
      ['messages', 0, 'reported', 200, 0, 0],
      ['messages', 1, 'reported', 200, 0, 0],
      ['messages', 1, 'reported', 200, 0, 0],
    ],
  );
  const first = rows[0];
  assert.equal(first?.prompt_tokens, message.usage.input_tokens);
  assert.equal(first?.user, 'user-7');
  assert.equal(first?.provider, 'anthropic');
  assert.equal(first?.api, 'anthropic');
  assert.equal(first?.subscription, 'team-claude');
  assert.equal(first?.model, 'claude-sonnet-5');
  assert.equal(first?.response_model, 'claude-sonnet-5');
  assert.equal(rows[1]?.prompt_tokens, final.usage.input_tokens);

  // The upstream saw the backend's key in x-api-key, never the subscription key, and the
  // Anthropic headers the client sent.
  const headers = upstream.lastRequest?.headers ?? {};
  assert.equal(upstream.lastRequest?.path, '/v1/messages/count_tokens');
  assert.equal(headers['x-api-key'], BACKEND_KEY);
  assert.equal(headers.authorization, undefined);
  assert.ok(!JSON.stringify(headers).includes(KEY));
  assert.match(String(headers['anthropic-version']), /^\d{4}-\d{2}-\d{2}$/);
});

test('anthropic-version and anthropic-beta reach the backend; an x-api-key client is served too', async () => {
  // What the Python SDK and curl send: the key in x-api-key.
  const res = await fetch(`${gw.url}${API_PATH}/v1/messages`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-api-key': KEY,
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'token-counting-2024-11-01',
    },
    body: JSON.stringify({ model: 'claude-haiku-5-5', max_tokens: 3, messages }),
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { usage: { input_tokens: number; output_tokens: number } };
  const headers = sim.stats().lastRequest?.headers ?? {};
  assert.equal(headers['anthropic-version'], '2023-06-01');
  assert.equal(headers['anthropic-beta'], 'token-counting-2024-11-01');
  assert.equal(headers['x-api-key'], BACKEND_KEY);
  const [row] = newRows();
  assert.equal(row?.prompt_tokens, body.usage.input_tokens);
  assert.equal(row?.completion_tokens, 3);
});

test('an overloaded_error event mid-stream: the SDK sees the error, the record keeps the usage seen', async () => {
  const stream = await client.messages.create(
    { model: 'claude-sonnet-5', max_tokens: 64, messages, stream: true },
    { headers: { [FAIL_HEADER]: 'stream-error' } },
  );
  let deltas = 0;
  await assert.rejects(async () => {
    for await (const event of stream) if (event.type === 'content_block_delta') deltas += 1;
  }, /Overloaded/);
  assert.equal(deltas, 3);
  const [row] = newRows();
  assert.equal(row?.status, 200);
  assert.equal(row?.source, 'reported');
  assert.ok(typeof row?.prompt_tokens === 'number' && row.prompt_tokens > 0);
  // Only message_start's placeholder output count arrived before the error.
  assert.equal(row?.completion_tokens, 1);
});

test('a stream cut by the backend is metered as partial; an HTTP error bills nothing', async () => {
  const stream = await client.messages.create(
    { model: 'claude-sonnet-5', max_tokens: 64, messages, stream: true },
    { headers: { [FAIL_HEADER]: 'cut-stream' } },
  );
  await assert.rejects(async () => {
    for await (const _ of stream) void _;
  });
  const err = await client.messages
    .create({ model: 'claude-sonnet-5', max_tokens: 64, messages }, { headers: { [FAIL_HEADER]: '429' } })
    .then(
      () => assert.fail('expected a 429'),
      (e: unknown) => e,
    );
  assert.ok(err instanceof Anthropic.RateLimitError);
  const rows = newRows();
  assert.deepEqual(
    rows.map((r) => [r.status, r.source, r.completion_tokens]),
    [
      [200, 'partial', 1],
      [429, 'reported', null],
    ],
  );
  assert.equal(rows[1]?.prompt_tokens, null);
});
