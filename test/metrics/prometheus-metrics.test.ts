import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { UsageRecord } from '../../src/ledger/record.js';
import { capLabelValue, MAX_LABEL_VALUE_CHARS } from '../../src/dimensions/value-cap.js';
import { createPrometheusMetrics } from '../../src/metrics/prometheus-metrics.js';

function record(overrides: Partial<UsageRecord> = {}, unreported: (keyof UsageRecord)[] = []): UsageRecord {
  const r: UsageRecord = {
    id: 'r1',
    time: 0,
    api: 'openai',
    operation: 'chat.completions',
    subscription: 'team-a',
    model: 'gpt-4o',
    backend: 'primary',
    stream: false,
    custom: { team: 'search' },
    source: 'reported',
    status: 200,
    latencyMs: 1,
    promptTokens: 10,
    completionTokens: 5,
    totalTokens: 15,
    cachedTokens: 4,
    ...overrides,
  };
  for (const key of unreported) delete r[key];
  return r;
}

function sample(text: string, metric: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${metric}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

test('APIM names become canonical labels; token types are counted as reported', async () => {
  const metrics = createPrometheusMetrics([
    { namespace: 'llm', dimensions: ['API ID', 'Subscription ID', { name: 'team', value: 'x' }] },
  ]);
  metrics.observe(record());
  metrics.observe(
    record({ id: 'r2', promptTokens: 1, completionTokens: 2, totalTokens: 3, reasoningTokens: 2 }, [
      'cachedTokens',
    ]),
  );
  const text = await metrics.render();
  assert.equal(
    sample(text, 'llm_tokens_total', 'api="openai",subscription="team-a",team="search",token_type="prompt"'),
    11,
  );
  assert.equal(
    sample(
      text,
      'llm_tokens_total',
      'api="openai",subscription="team-a",team="search",token_type="completion"',
    ),
    7,
  );
  assert.equal(
    sample(text, 'llm_tokens_total', 'api="openai",subscription="team-a",team="search",token_type="cached"'),
    4,
  );
  assert.equal(
    sample(
      text,
      'llm_tokens_total',
      'api="openai",subscription="team-a",team="search",token_type="reasoning"',
    ),
    2,
  );
  assert.equal(
    sample(
      text,
      'llm_tokens_total',
      'api="openai",subscription="team-a",team="search",token_type="cache_write"',
    ),
    undefined,
    'not reported: no sample',
  );
  assert.equal(
    sample(
      text,
      'llm_requests_total',
      'api="openai",subscription="team-a",team="search",status_class="2xx",usage_source="reported"',
    ),
    2,
  );
});

test('without tokenMetrics the default namespace and dimensions are used', async () => {
  const metrics = createPrometheusMetrics([]);
  metrics.observe(
    record({ status: 429 }, ['promptTokens', 'completionTokens', 'totalTokens', 'cachedTokens']),
  );
  const text = await metrics.render();
  assert.equal(
    sample(
      text,
      'tokenmeter_requests_total',
      // A refused call (429) adds no client-controlled value: its new model is folded.
      'api="openai",operation="chat.completions",subscription="team-a",model="__other__",backend="primary",status_class="4xx",usage_source="reported"',
    ),
    1,
  );
  assert.ok(!text.includes('tokenmeter_tokens_total{'), 'an error without usage adds no tokens');
});

test('the cardinality guard folds label values past the limit into __other__', async () => {
  const metrics = createPrometheusMetrics([
    { namespace: 'g', dimensions: ['user'], maxValuesPerDimension: 2 },
  ]);
  for (const user of ['a', 'b', 'c', 'd']) metrics.observe(record({ id: user, user }));
  const text = await metrics.render();
  assert.equal(sample(text, 'g_requests_total', 'user="a",status_class="2xx",usage_source="reported"'), 1);
  assert.equal(
    sample(text, 'g_requests_total', 'user="__other__",status_class="2xx",usage_source="reported"'),
    2,
  );
  assert.equal(sample(text, 'tokenmeter_metric_label_overflow_total', 'namespace="g",label="user"'), 2);
});

test('every label value is capped to 128 characters, default and custom dimensions alike', async () => {
  const metrics = createPrometheusMetrics([
    {
      namespace: 'g',
      dimensions: ['model', 'responseModel', 'user', 'ip', 'API ID', { name: 'team', value: 'x' }],
    },
  ]);
  const long = (tag: string): string => tag + 'x'.repeat(2 * 1024 * 1024);
  for (let i = 0; i < 12; i++) {
    metrics.observe(
      record({
        id: `r${i}`,
        model: long(`model-${i}`),
        responseModel: long(`answer-${i}`),
        user: long(`user-${i}`),
        ip: long(`ip-${i}`),
        api: long(`api-${i}`),
        custom: { team: long(`team-${i}`) },
      }),
    );
  }
  const text = await metrics.render();
  assert.ok(text.length < 64 * 1024, `exposition of ${text.length} characters`);
  const values = [...text.matchAll(/="((?:[^"\\]|\\.)*)"/g)].map((m) => m[1] ?? '');
  assert.ok(values.length > 12 * 6);
  for (const value of values) assert.ok(value.length <= MAX_LABEL_VALUE_CHARS, `${value.length}`);
  assert.ok(text.includes(`model="${capLabelValue(long('model-3'))}"`));
  assert.ok(text.includes(`team="${capLabelValue(long('team-11'))}"`));
});

test('a call that did not succeed adds no label value; it is counted under __other__', async () => {
  const metrics = createPrometheusMetrics([{ namespace: 'g', dimensions: ['subscription', 'model'] }]);
  metrics.observe(record({ id: 'ok', model: 'gpt-4o' }));
  metrics.observe(record({ id: 'r400', model: 'never-seen', status: 400 }));
  metrics.observe(record({ id: 'r502', model: 'never-seen-2', status: 502 }));
  metrics.observe(record({ id: 'r429', model: 'gpt-4o', status: 429 }));
  const text = await metrics.render();
  assert.ok(!text.includes('never-seen'));
  const labels = (model: string, cls: string): string =>
    `subscription="team-a",model="${model}",status_class="${cls}",usage_source="reported"`;
  assert.equal(sample(text, 'g_requests_total', labels('__other__', '4xx')), 1);
  assert.equal(sample(text, 'g_requests_total', labels('__other__', '5xx')), 1);
  assert.equal(sample(text, 'g_requests_total', labels('gpt-4o', '4xx')), 1, 'an admitted value is reused');
  assert.equal(sample(text, 'tokenmeter_metric_label_overflow_total', 'namespace="g",label="model"'), 2);
});

test('one subscription filling the label leaves the others their share; evicted series go', async () => {
  const metrics = createPrometheusMetrics([
    { namespace: 'g', dimensions: ['subscription', 'user'], maxValuesPerDimension: 4 },
  ]);
  metrics.observe(record({ id: 'b0', subscription: 'team-b', user: 'bob' }));
  for (let i = 0; i < 50; i++)
    metrics.observe(record({ id: `a${i}`, subscription: 'team-a', user: `a${i}` }));
  metrics.observe(record({ id: 'b1', subscription: 'team-b', user: 'bea' }));
  metrics.observe(record({ id: 'b2', subscription: 'team-b', user: 'bob' }));
  const text = await metrics.render();
  const requests = (sub: string, user: string): number | undefined =>
    sample(
      text,
      'g_requests_total',
      `subscription="${sub}",user="${user}",status_class="2xx",usage_source="reported"`,
    );
  // team-a filled the free slots (a0..a2); team-b, below its share of 2, took a0's slot for bea.
  assert.equal(requests('team-a', 'a0'), undefined, "a0's series left with its slot");
  assert.equal(requests('team-a', 'a1'), 1);
  assert.equal(requests('team-a', 'a2'), 1);
  assert.equal(requests('team-a', 'a3'), undefined);
  assert.equal(requests('team-a', '__other__'), 47);
  assert.equal(requests('team-b', 'bob'), 2);
  assert.equal(requests('team-b', 'bea'), 1);
  assert.equal(requests('team-b', '__other__'), undefined);
  assert.deepEqual(metrics.emitters[0]?.heldValues(), { subscription: 2, user: 4 });
});

test('an unknown default dimension name is refused at start-up', () => {
  assert.throws(
    () => createPrometheusMetrics([{ namespace: 'x', dimensions: ['Region ID'] }]),
    /unknown dimension/,
  );
});

test('internal gauges are read at scrape time', async () => {
  const metrics = createPrometheusMetrics([]);
  let failures = 0;
  metrics.addInternalGauge('tokenmeter_ledger_append_failures', 'help', () => failures);
  failures = 3;
  assert.match(await metrics.render(), /^tokenmeter_ledger_append_failures 3$/m);
});

test('counts observed between scrapes are added once each, never lost or doubled', async () => {
  const metrics = createPrometheusMetrics([{ namespace: 'llm', dimensions: ['Subscription ID'] }]);
  const prompt = 'subscription="team-a",token_type="prompt"';
  const requests = 'subscription="team-a",status_class="2xx",usage_source="reported"';
  metrics.observe(record());
  let text = await metrics.render();
  assert.equal(sample(text, 'llm_tokens_total', prompt), 10);
  // A scrape with nothing new in between changes nothing.
  text = await metrics.render();
  assert.equal(sample(text, 'llm_tokens_total', prompt), 10);
  assert.equal(sample(text, 'llm_requests_total', requests), 1);
  metrics.observe(record({ id: 'r2', promptTokens: 7 }));
  metrics.observe(record({ id: 'r3', promptTokens: 1 }));
  text = await metrics.render();
  assert.equal(sample(text, 'llm_tokens_total', prompt), 18);
  assert.equal(sample(text, 'llm_requests_total', requests), 3);
  // The registry's JSON view goes through the same flush.
  metrics.observe(record({ id: 'r4', promptTokens: 2 }));
  const json = await metrics.registry.getMetricsAsJSON();
  const tokens = json.find((m) => m.name === 'llm_tokens_total');
  const value = tokens?.values.find((v) => v.labels['token_type'] === 'prompt')?.value;
  assert.equal(value, 20);
});

test('each emitter counts only the records in its scope, with its own labels', async () => {
  const metrics = createPrometheusMetrics([
    { namespace: 'all', dimensions: ['api'] },
    { namespace: 'prod', dimensions: ['user'], scope: { product: 'gold' } },
    { namespace: 'chat', dimensions: ['model'], scope: { api: 'openai', operation: 'chat.completions' } },
  ]);
  metrics.observe(record({ id: '1', product: 'gold', user: 'u1' }));
  metrics.observe(record({ id: '2', product: 'silver', operation: 'embeddings' }));
  metrics.observe(record({ id: '3', product: 'gold', api: 'claude', operation: 'messages', user: 'u2' }));
  const text = await metrics.render();
  const requests = (ns: string, labels: string): number | undefined =>
    sample(text, `${ns}_requests_total`, `${labels},status_class="2xx",usage_source="reported"`);
  assert.equal(requests('all', 'api="openai"'), 2);
  assert.equal(requests('all', 'api="claude"'), 1);
  assert.equal(requests('prod', 'user="u1"'), 1);
  assert.equal(requests('prod', 'user="u2"'), 1);
  assert.equal(requests('chat', 'model="gpt-4o"'), 1);
  assert.equal(sample(text, 'chat_tokens_total', 'model="gpt-4o",token_type="prompt"'), 10);
});

test('a value unseen for the window leaves /metrics with every series carrying it', async () => {
  let now = 0;
  const metrics = createPrometheusMetrics(
    [{ namespace: 'g', dimensions: ['user', 'model'], maxValuesPerDimension: 10, cardinalityWindow: 60_000 }],
    { clock: () => now },
  );
  metrics.observe(record({ id: '1', user: 'gone', model: 'm1' }));
  metrics.observe(record({ id: '2', user: 'gone', model: 'm2' }));
  metrics.observe(record({ id: '3', user: 'stays', model: 'm1' }));
  let text = await metrics.render();
  assert.equal(
    sample(text, 'g_requests_total', 'user="gone",model="m2",status_class="2xx",usage_source="reported"'),
    1,
  );
  now = 40_000;
  metrics.observe(record({ id: '4', user: 'stays', model: 'm1' }));
  now = 62_000; // 'gone' and 'm2' were last seen a window (plus its 1/60) ago
  text = await metrics.render();
  assert.ok(!text.includes('gone'), 'no series of the released user');
  assert.ok(!text.includes('m2'), 'nor of the released model');
  assert.equal(
    sample(text, 'g_requests_total', 'user="stays",model="m1",status_class="2xx",usage_source="reported"'),
    2,
  );
  assert.equal(sample(text, 'g_tokens_total', 'user="stays",model="m1",token_type="prompt"'), 20);
  assert.equal(metrics.emitters[0]?.seriesCount, 1);
  // The value may come back: its counter starts again from 0.
  metrics.observe(record({ id: '5', user: 'gone', model: 'm2', promptTokens: 3 }));
  text = await metrics.render();
  assert.equal(sample(text, 'g_tokens_total', 'user="gone",model="m2",token_type="prompt"'), 3);
  now = 200_000;
  text = await metrics.render();
  assert.ok(!text.includes('g_requests_total{'), 'nothing seen for a window: no series at all');
  assert.deepEqual(metrics.emitters[0]?.heldValues(), { user: 0, model: 0 });
});
