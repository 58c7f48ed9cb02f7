import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { UsageRecord } from '../../src/ledger/record.js';
import { createPrometheusMetrics } from '../../src/metrics/prometheus-metrics.js';

function record(overrides: Partial<UsageRecord> = {}): UsageRecord {
  return {
    id: 'r1',
    time: 0,
    api: 'openai',
    operation: 'chat.completions',
    subscription: 'team-a',
    model: 'gpt-4o',
    backend: 'primary',
    stream: false,
    custom: {},
    source: 'reported',
    status: 200,
    latencyMs: 1,
    promptTokens: 10,
    completionTokens: 5,
    ...overrides,
  };
}

function sample(text: string, metric: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${metric}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

test('<namespace>_cost_total sums record.cost by the emitter dimensions', async () => {
  const metrics = createPrometheusMetrics([{ namespace: 'llm', dimensions: ['Subscription ID', 'model'] }]);
  metrics.observe(record({ id: 'a', cost: 0.25 }));
  metrics.observe(record({ id: 'b', cost: 0.125 }));
  metrics.observe(record({ id: 'c', subscription: 'team-b', cost: 1.5 }));
  const text = await metrics.render();
  assert.match(text, /# TYPE llm_cost_total counter/);
  assert.equal(sample(text, 'llm_cost_total', 'subscription="team-a",model="gpt-4o"'), 0.375);
  assert.equal(sample(text, 'llm_cost_total', 'subscription="team-b",model="gpt-4o"'), 1.5);
  // Counted once: a second scrape without new records shows the same totals.
  const again = await metrics.render();
  assert.equal(sample(again, 'llm_cost_total', 'subscription="team-a",model="gpt-4o"'), 0.375);
});

test('a record without a price (or a zero or negative cost) adds no cost series; its tokens still count', async () => {
  const metrics = createPrometheusMetrics([{ namespace: 'llm', dimensions: ['model'] }]);
  metrics.observe(record({ id: 'a', model: 'unpriced' }));
  metrics.observe(record({ id: 'b', model: 'free', cost: 0 }));
  metrics.observe(record({ id: 'c', model: 'odd', cost: -1 }));
  const text = await metrics.render();
  assert.doesNotMatch(text, /^llm_cost_total\{/m);
  assert.equal(sample(text, 'llm_tokens_total', 'model="unpriced",token_type="prompt"'), 10);
});

test('cost follows the cardinality guard: a folded model value is costed under __other__', async () => {
  const metrics = createPrometheusMetrics([
    { namespace: 'llm', dimensions: ['model'], maxValuesPerDimension: 1 },
  ]);
  metrics.observe(record({ id: 'a', model: 'm1', cost: 1 }));
  metrics.observe(record({ id: 'b', model: 'm2', cost: 2 }));
  metrics.observe(record({ id: 'c', model: 'm3', cost: 4 }));
  const text = await metrics.render();
  assert.equal(sample(text, 'llm_cost_total', 'model="m1"'), 1);
  assert.equal(sample(text, 'llm_cost_total', 'model="__other__"'), 6);
});

test('the estimated share is readable from <namespace>_requests_total{usage_source}', async () => {
  const metrics = createPrometheusMetrics([{ namespace: 'llm', dimensions: ['subscription'] }]);
  metrics.observe(record({ id: 'a' }));
  metrics.observe(record({ id: 'b', source: 'estimated' }));
  metrics.observe(record({ id: 'c', source: 'estimated' }));
  const text = await metrics.render();
  assert.equal(
    sample(text, 'llm_requests_total', 'subscription="team-a",status_class="2xx",usage_source="estimated"'),
    2,
  );
  assert.equal(
    sample(text, 'llm_requests_total', 'subscription="team-a",status_class="2xx",usage_source="reported"'),
    1,
  );
});
