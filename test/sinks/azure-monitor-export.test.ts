// Issue #11 item 4: the Azure Monitor sink sends APIM-shaped custom metrics (Prompt Tokens,
// Completion Tokens, Total Tokens in each tokenMetrics entry's namespace, APIM's dimension
// names) as Application Insights track envelopes to the connection string's IngestionEndpoint.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MetricEnvelope } from '../../src/sinks/azure-monitor-sink.js';
import { startReceiver, type ReceivedRequest } from './receivers.js';
import { chat, KEYS, messages, startSinkGateway } from './sink-gateway.js';

const IKEY = '0f3c6a8e-1b2d-4e5f-8a9b-0c1d2e3f4a5b';

/** The track endpoint's answer: every item accepted. */
const accepted = (req: ReceivedRequest): string => {
  const items = (JSON.parse(req.body.toString('utf8')) as unknown[]).length;
  return JSON.stringify({ itemsReceived: items, itemsAccepted: items, errors: [] });
};

const envelopesOf = (requests: ReceivedRequest[]): MetricEnvelope[] =>
  requests.flatMap((r) => JSON.parse(r.body.toString('utf8')) as MetricEnvelope[]);

test('Azure Monitor: APIM metric names, namespace and dimension names; one point per metric and dimension set', async () => {
  const receiver = await startReceiver('ok', accepted);
  const h = await startSinkGateway(
    {
      azureMonitor: {
        connectionString: `InstrumentationKey=${IKEY};IngestionEndpoint=${receiver.url}/;LiveEndpoint=https://example.invalid/`,
      },
    },
    { azureIntervalMs: 3_600_000 },
    [
      {
        namespace: 'openai_usage',
        dimensions: [
          'API ID',
          'Subscription ID',
          'model',
          { name: 'app', value: "request.headers['x-app']" },
        ],
      },
      { namespace: 'claude_only', dimensions: ['subscription', 'operation'], scope: { api: 'anthropic' } },
    ],
  );
  const a1 = await chat(h.gw, KEYS.a, 'gpt-4o-mini', { 'x-app': 'billing' });
  const a2 = await chat(h.gw, KEYS.a, 'gpt-4o-mini', { 'x-app': 'billing' });
  const b1 = await chat(h.gw, KEYS.b, 'gpt-4o');
  const c1 = await messages(h.gw, KEYS.b);
  await h.close();
  await receiver.close();

  assert.ok(receiver.accepted.length >= 1);
  for (const r of receiver.accepted) {
    assert.equal(r.method, 'POST');
    assert.equal(r.path, '/v2.1/track');
  }
  const envelopes = envelopesOf(receiver.accepted);
  for (const e of envelopes) {
    assert.equal(e.name, 'Microsoft.ApplicationInsights.Metric');
    assert.equal(e.iKey, IKEY);
    assert.equal(e.data.baseType, 'MetricData');
    assert.equal(e.data.baseData.metrics.length, 1);
    assert.equal(e.tags['ai.cloud.roleInstance'], 'gw-test-1');
    assert.ok(!Number.isNaN(Date.parse(e.time)));
  }
  const point = (ns: string, name: string, properties: Record<string, string>) => {
    const found = envelopes.filter(
      (e) =>
        e.data.baseData.metrics[0]?.ns === ns &&
        e.data.baseData.metrics[0]?.name === name &&
        JSON.stringify(e.data.baseData.properties) === JSON.stringify(properties),
    );
    assert.equal(found.length, 1, `${ns}/${name} ${JSON.stringify(properties)}: ${found.length} points`);
    return found[0]?.data.baseData.metrics[0];
  };
  const aDims = { 'API ID': 'openai', 'Subscription ID': 'team-a', model: 'gpt-4o-mini', app: 'billing' };
  const aPrompt = point('openai_usage', 'Prompt Tokens', aDims);
  assert.deepEqual(
    { value: aPrompt?.value, count: aPrompt?.count, min: aPrompt?.min, max: aPrompt?.max },
    {
      value: a1.prompt + a2.prompt,
      count: 2,
      min: Math.min(a1.prompt, a2.prompt),
      max: Math.max(a1.prompt, a2.prompt),
    },
  );
  assert.equal(point('openai_usage', 'Completion Tokens', aDims)?.value, a1.completion + a2.completion);
  assert.equal(
    point('openai_usage', 'Total Tokens', aDims)?.value,
    a1.prompt + a1.completion + a2.prompt + a2.completion,
  );
  // No custom value: the dimension is left out, as an absent customDimensions key.
  const bDims = { 'API ID': 'openai', 'Subscription ID': 'team-b', model: 'gpt-4o' };
  assert.equal(point('openai_usage', 'Total Tokens', bDims)?.value, b1.prompt + b1.completion);
  const cDims = { 'API ID': 'anthropic', 'Subscription ID': 'team-b', model: 'claude-sonnet-4-5' };
  assert.equal(point('openai_usage', 'Total Tokens', cDims)?.value, c1.prompt + c1.completion);
  // The scoped entry counts only the Anthropic call; `subscription` is written under APIM's name.
  const claude = envelopes.filter((e) => e.data.baseData.metrics[0]?.ns === 'claude_only');
  assert.equal(claude.length, 3);
  assert.equal(
    point('claude_only', 'Prompt Tokens', { 'Subscription ID': 'team-b', 'Operation ID': 'messages' })?.value,
    c1.prompt,
  );
  // 3 dimension sets × 3 metrics in the first entry, 1 × 3 in the second.
  assert.equal(envelopes.length, 12);
});

test('Azure Monitor: items the endpoint asks to retry are sent again, items it refuses are counted as rejected', async () => {
  let answered = 0;
  const receiver = await startReceiver('ok', (req) => {
    const items = JSON.parse(req.body.toString('utf8')) as unknown[];
    answered += 1;
    if (answered > 1)
      return JSON.stringify({ itemsReceived: items.length, itemsAccepted: items.length, errors: [] });
    // The first answer: item 0 throttled (retry), item 1 invalid (never retried).
    return JSON.stringify({
      itemsReceived: items.length,
      itemsAccepted: items.length - 2,
      errors: [
        { index: 0, statusCode: 429, message: 'throttled' },
        { index: 1, statusCode: 400, message: 'invalid' },
      ],
    });
  });
  const h = await startSinkGateway(
    { azureMonitor: { connectionString: `InstrumentationKey=${IKEY};IngestionEndpoint=${receiver.url}` } },
    { azureIntervalMs: 3_600_000 },
  );
  await chat(h.gw, KEYS.a);
  const sink = h.gw.metricSinks.azureMonitor;
  assert.ok(sink !== undefined);
  await sink.loop.tick();
  assert.equal(sink.loop.queuedPoints, 1, 'the throttled item waits for the next interval');
  await sink.loop.tick();
  assert.equal(sink.loop.queuedPoints, 0);
  const exposition = await h.gw.metrics.render();
  await h.close();
  await receiver.close();
  const [first, second] = receiver.accepted.map(
    (r) => JSON.parse(r.body.toString('utf8')) as MetricEnvelope[],
  );
  assert.equal(first?.length, 3);
  assert.deepEqual(second, [first?.[0]]);
  assert.match(exposition, /tokenmeter_metric_exports_total\{sink="azureMonitor",outcome="rejected"\} 1/);
  assert.match(exposition, /tokenmeter_metric_exports_total\{sink="azureMonitor",outcome="success"\} 1/);
});
