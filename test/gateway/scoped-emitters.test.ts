// Issue #8, item 5: a tokenMetrics entry with a scope counts only the calls in its scope, with
// its own namespace and dimensions. A real in-process gateway, a simulator upstream (OpenAI and
// Anthropic shapes), a real SQLite ledger read back from its file.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { readLedgerRows, type LedgerRow } from '../helpers/ledger-rows.js';

const KEYS = { gold: 'key-team-gold-01', silver: 'key-team-silver-1' };

let sim: Simulator;
let gw: Gateway;
let ledgerPath: string;

before(async () => {
  sim = await startSimulator({ completionTokens: 3 });
  ledgerPath = join(mkdtempSync(join(tmpdir(), 'tokenmeter-scoped-')), 'ledger.db');
  const config = configSchema.parse({
    backends: [
      { id: 'sim', type: 'openai', url: `${sim.url}/v1`, apiKey: 'sk-up' },
      { id: 'claude', type: 'anthropic', url: sim.url, apiKey: 'ant-up' },
    ],
    apis: [
      { id: 'openai', path: '/openai/v1', type: 'openai', backend: 'sim' },
      { id: 'anthropic', path: '/anthropic', type: 'anthropic', backend: 'claude' },
    ],
    products: [
      { id: 'gold', apis: ['openai'] },
      { id: 'silver', apis: ['openai', 'anthropic'] },
    ],
    subscriptions: [
      { id: 'team-gold', key: KEYS.gold, product: 'gold' },
      { id: 'team-silver', key: KEYS.silver, product: 'silver' },
    ],
    tokenMetrics: [
      { namespace: 'all', dimensions: ['product', 'api', 'operation'] },
      { namespace: 'gold', dimensions: ['subscription', 'model'], scope: { product: 'gold' } },
      {
        namespace: 'chat',
        dimensions: ['Product ID', 'user'],
        scope: { api: 'openai', operation: 'chat.completions' },
      },
    ],
  });
  gw = await startGateway(config, {
    port: 0,
    ledgerUrl: `sqlite:${ledgerPath}`,
    logger: pino({ level: 'silent' }),
  });
});

after(async () => {
  await gw.close();
  await sim.close();
});

const messages = [{ role: 'user', content: 'hello there' }];

async function send(key: string, path: string, body: unknown): Promise<void> {
  const res = await fetch(gw.url + path, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${key}`,
      'x-api-key': key,
      'anthropic-version': '2023-06-01',
    },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  assert.equal(res.status, 200);
}

/** The value of one sample of the exposition, or undefined when there is none. */
function sampleOf(text: string, metric: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${metric}{${labels}}`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Every sample line of a metric. */
function linesOf(text: string, metric: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${metric}{`));
}

function sum(rows: readonly LedgerRow[], column: string): number {
  return rows.reduce((n, r) => n + Number(r[column] ?? 0), 0);
}

test('three emitters, unscoped, {product} and {api, operation}: each counts exactly its calls', async () => {
  const chat = (user: string) => ({ model: 'gpt-4o-mini', messages, user });
  const embed = { model: 'text-embedding-3-small', input: 'hello' };
  for (let i = 0; i < 3; i++) await send(KEYS.gold, '/openai/v1/chat/completions', chat('ann'));
  for (let i = 0; i < 2; i++) await send(KEYS.gold, '/openai/v1/embeddings', embed);
  for (let i = 0; i < 4; i++) await send(KEYS.silver, '/openai/v1/chat/completions', chat('bob'));
  await send(KEYS.silver, '/openai/v1/embeddings', embed);
  for (let i = 0; i < 2; i++)
    await send(KEYS.silver, '/anthropic/v1/messages', {
      model: 'claude-sonnet-4-5',
      max_tokens: 16,
      messages,
      metadata: { user_id: 'bob' },
    });

  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const ok = ',status_class="2xx",usage_source="reported"';

  // Unscoped: every call.
  const all = (p: string, api: string, op: string): number | undefined =>
    sampleOf(text, 'all_requests_total', `product="${p}",api="${api}",operation="${op}"${ok}`);
  assert.equal(all('gold', 'openai', 'chat.completions'), 3);
  assert.equal(all('gold', 'openai', 'embeddings'), 2);
  assert.equal(all('silver', 'openai', 'chat.completions'), 4);
  assert.equal(all('silver', 'openai', 'embeddings'), 1);
  assert.equal(all('silver', 'anthropic', 'messages'), 2);
  assert.equal(linesOf(text, 'all_requests_total').length, 5);

  // { product: gold }: team-gold's five calls only.
  assert.equal(sampleOf(text, 'gold_requests_total', `subscription="team-gold",model="gpt-4o-mini"${ok}`), 3);
  assert.equal(
    sampleOf(text, 'gold_requests_total', `subscription="team-gold",model="text-embedding-3-small"${ok}`),
    2,
  );
  assert.equal(linesOf(text, 'gold_requests_total').length, 2);
  assert.ok(!text.includes('subscription="team-silver"'), 'no other product reaches the gold emitter');

  // { api: openai, operation: chat.completions }: seven chat calls, both products, no others.
  assert.equal(sampleOf(text, 'chat_requests_total', `product="gold",user="ann"${ok}`), 3);
  assert.equal(sampleOf(text, 'chat_requests_total', `product="silver",user="bob"${ok}`), 4);
  assert.equal(linesOf(text, 'chat_requests_total').length, 2);

  // Token counts match the ledger rows in each scope.
  const rows = readLedgerRows(ledgerPath);
  const chatRows = rows.filter((r) => r.api === 'openai' && r.operation === 'chat.completions');
  const goldRows = rows.filter((r) => r.product === 'gold');
  assert.equal(chatRows.length, 7);
  assert.equal(goldRows.length, 5);
  const tokens = (metric: string, type: string): number =>
    linesOf(text, metric)
      .filter((l) => l.includes(`token_type="${type}"`))
      .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  assert.equal(tokens('chat_tokens_total', 'prompt'), sum(chatRows, 'prompt_tokens'));
  assert.equal(tokens('chat_tokens_total', 'completion'), sum(chatRows, 'completion_tokens'));
  assert.equal(tokens('gold_tokens_total', 'prompt'), sum(goldRows, 'prompt_tokens'));
  assert.equal(tokens('all_tokens_total', 'completion'), sum(rows, 'completion_tokens'));
  assert.equal(sum(chatRows, 'completion_tokens'), 7 * 3, 'the simulator answered 3 tokens each');
});
