import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI, { AzureOpenAI } from 'openai';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { readLedgerRows } from '../helpers/ledger-rows.js';

const KEYS = { search: 'key-team-search-1', support: 'key-team-support-2' };

let sim: Simulator;
let gw: GatewayProcess;

before(async () => {
  sim = await startSimulator({ completionTokens: 12 });
  gw = await startGatewayProcess({
    gateway: { id: 'gw-test', location: 'westeurope' },
    backends: [
      { id: 'oai', type: 'openai', url: `${sim.url}/v1`, apiKey: 'sk-upstream-openai' },
      { id: 'aoai', type: 'azure-openai', url: sim.url, apiKey: 'upstream-azure-key' },
    ],
    apis: [
      { id: 'openai', path: '/openai/v1', type: 'openai', backend: 'oai' },
      { id: 'azure', path: '/azure', type: 'azure-openai', backend: 'aoai' },
    ],
    products: [{ id: 'std', apis: ['openai', 'azure'] }],
    subscriptions: [
      { id: 'team-search', key: KEYS.search, product: 'std', costCenter: 'CC-1' },
      { id: 'team-support', key: KEYS.support, product: 'std', costCenter: 'CC-2' },
    ],
    tokenMetrics: [
      {
        namespace: 'tm',
        dimensions: [
          'API ID',
          'Operation ID',
          'Subscription ID',
          'model',
          'backend',
          'stream',
          { name: 'costCenter', value: 'subscription.costCenter' },
        ],
      },
    ],
  });
});

after(async () => {
  await gw.stop();
  await sim.close();
});

const messages = [{ role: 'user' as const, content: 'How many tokens does this sentence have?' }];

test('a mixed run through the official OpenAI and AzureOpenAI clients is metered exactly', async () => {
  const openai = new OpenAI({ baseURL: `${gw.url}/openai/v1`, apiKey: KEYS.search, maxRetries: 0 });
  const azure = new AzureOpenAI({
    endpoint: `${gw.url}/azure`,
    apiKey: KEYS.support,
    apiVersion: '2024-10-21',
    deployment: 'gpt-4o',
    maxRetries: 0,
  });
  const azureV1 = new OpenAI({ baseURL: `${gw.url}/azure/openai/v1`, apiKey: KEYS.support, maxRetries: 0 });

  const chat = await openai.chat.completions.create({
    model: 'gpt-4o-mini',
    messages,
    user: 'alice@example.com',
  });
  assert.ok(chat.usage && chat.usage.total_tokens > 0);

  // Streamed without asking for usage: the client must not see the usage chunk the gateway added.
  let sawUsage = false;
  let text = '';
  for await (const chunk of await openai.chat.completions.create({
    model: 'gpt-4o-mini',
    messages,
    stream: true,
  })) {
    if (chunk.usage) sawUsage = true;
    text += chunk.choices[0]?.delta.content ?? '';
  }
  assert.equal(sawUsage, false);
  assert.ok(text.length > 0);

  // Streamed asking for usage: the client gets it, as from the provider.
  let reported: number | undefined;
  for await (const chunk of await openai.chat.completions.create({
    model: 'gpt-4o-mini',
    messages,
    stream: true,
    stream_options: { include_usage: true },
  })) {
    if (chunk.usage) reported = chunk.usage.total_tokens;
  }
  assert.ok(reported !== undefined && reported > 0);

  await openai.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Say hi' });
  for await (const _ of await openai.completions.create({
    model: 'gpt-3.5-turbo-instruct',
    prompt: 'Say hi',
    stream: true,
  }))
    void _;
  await openai.embeddings.create({ model: 'text-embedding-3-small', input: ['one', 'two'] });
  await openai.responses.create({ model: 'gpt-4.1', input: 'Hello' });
  for await (const _ of await openai.responses.create({ model: 'gpt-4.1', input: 'Hello', stream: true }))
    void _;

  await azure.chat.completions.create({ model: 'gpt-4o', messages });
  for await (const _ of await azure.chat.completions.create({ model: 'gpt-4o', messages, stream: true }))
    void _;
  await azure.embeddings.create({ model: 'gpt-4o', input: 'embed me' });
  await azureV1.chat.completions.create({ model: 'gpt-4o-mini', messages });

  const upstream = sim.stats();
  assert.equal(upstream.requests, 12);
  const rows = readLedgerRows(gw.ledgerPath);
  assert.equal(rows.length, 12);
  const sum = (col: string): number => rows.reduce((a, r) => a + ((r[col] as number | null) ?? 0), 0);
  assert.equal(sum('prompt_tokens'), upstream.promptTokens);
  assert.equal(sum('completion_tokens'), upstream.completionTokens);
  assert.equal(sum('total_tokens'), upstream.totalTokens);
  assert.ok(rows.every((r) => r.source === 'reported' && r.status === 200));

  // The credentials the upstream saw are the backend's, never a subscription key.
  const seen = JSON.stringify(upstream.lastRequest?.headers ?? {});
  assert.ok(!seen.includes(KEYS.search) && !seen.includes(KEYS.support));
  // The last call went through the Azure backend, which authenticates with its own api-key.
  assert.equal(upstream.lastRequest?.headers['api-key'], 'upstream-azure-key');
  assert.equal(upstream.lastRequest?.headers.authorization, undefined);

  // Dimensions
  const first = rows[0];
  assert.equal(first?.user, 'alice@example.com');
  assert.equal(first?.subscription, 'team-search');
  assert.equal(first?.gateway, 'gw-test');
  assert.equal(first?.location, 'westeurope');
  assert.equal(first?.ip, '127.0.0.1');
  assert.equal(first?.backend, 'oai');
  assert.equal(first?.product, 'std');
  assert.equal(first?.model, 'gpt-4o-mini');
  assert.ok(typeof first?.response_model === 'string');
  const azureRow = rows.find((r) => r.api === 'azure' && r.operation === 'embeddings');
  assert.equal(azureRow?.model, 'gpt-4o');
  assert.equal(azureRow?.provider, 'azure-openai');

  // /metrics agrees with the upstream's own totals, token type by token type.
  const metrics = await (await fetch(`${gw.url}/metrics`)).text();
  const metricSum = (tokenType: string): number =>
    metrics
      .split('\n')
      .filter((l) => l.startsWith('tm_tokens_total{') && l.includes(`token_type="${tokenType}"`))
      .reduce((a, l) => a + Number(l.split(' ').at(-1)), 0);
  assert.equal(metricSum('prompt'), upstream.promptTokens);
  assert.equal(metricSum('completion'), upstream.completionTokens);
  assert.match(
    metrics,
    /tm_tokens_total\{api="openai",operation="chat.completions",subscription="team-search",model="gpt-4o-mini",backend="oai",stream="false",costCenter="CC-1",token_type="prompt"\} \d+/,
  );
  assert.match(
    metrics,
    /tm_requests_total\{api="azure",operation="embeddings",subscription="team-support",model="gpt-4o",backend="aoai",stream="false",costCenter="CC-2",status_class="2xx",usage_source="reported"\} 1/,
  );
});
