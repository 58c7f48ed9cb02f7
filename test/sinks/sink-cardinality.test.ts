// Cardinality stays bounded per interval: the OTLP sink relies on the SDK's cardinality limit
// (2000 attribute sets per instrument, then one `otel.metric.overflow=true` set), the Azure
// Monitor sink folds the dimension sets past 2000 per entry into one set of `__other__` values.
// No token is lost to the bound: the folded sets carry the rest.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { UsageRecord } from '../../src/ledger/record.js';
import { AZURE_MAX_SERIES_PER_INTERVAL, type MetricEnvelope } from '../../src/sinks/azure-monitor-sink.js';
import { createMetricSinks } from '../../src/sinks/metric-sinks.js';
import { OTLP_CARDINALITY_LIMIT } from '../../src/sinks/otlp-sink.js';
import { decodeJsonExport } from './otlp-decode.js';
import { startReceiver, type ReceivedRequest } from './receivers.js';

const DISTINCT = 2500;

function record(i: number): UsageRecord {
  return {
    id: `r${i}`,
    time: Date.now(),
    api: 'openai',
    operation: 'chat.completions',
    subscription: `team-${i}`,
    model: 'gpt-4o-mini',
    provider: 'openai',
    stream: false,
    custom: {},
    source: 'reported',
    status: 200,
    latencyMs: 100,
    promptTokens: 10,
    completionTokens: 2,
    totalTokens: 12,
  };
}

const trackAnswer = (req: ReceivedRequest): string => {
  const n = (JSON.parse(req.body.toString('utf8')) as unknown[]).length;
  return JSON.stringify({ itemsReceived: n, itemsAccepted: n, errors: [] });
};

test('OTLP: past the SDK cardinality limit, attribute sets fold into the overflow set', async () => {
  const receiver = await startReceiver();
  const sinks = createMetricSinks(
    {
      metrics: {
        otlp: {
          endpoint: `${receiver.url}/v1/metrics`,
          headers: {},
          intervalMs: 3_600_000,
          protocol: 'http/json',
        },
      },
      tokenMetrics: [
        { namespace: 't', dimensions: ['subscription'], maxValuesPerDimension: 1000, cardinalityWindow: 1 },
      ],
      gateway: { id: 'g', location: 'l' } as never,
    },
    new Registry(),
    pino({ level: 'silent' }),
  );
  for (let i = 0; i < DISTINCT; i++) sinks.otlp?.observe(record(i));
  await sinks.close();
  await receiver.close();
  const usage = receiver.accepted
    .flatMap((r) => decodeJsonExport(r.body))
    .flatMap((e) => e.metrics)
    .find((m) => m.name === 'gen_ai.client.token.usage');
  assert.ok(usage !== undefined);
  assert.equal(usage.points.length, OTLP_CARDINALITY_LIMIT);
  const overflow = usage.points.filter((p) => p.attributes['otel.metric.overflow'] === true);
  assert.equal(overflow.length, 1);
  assert.equal(
    usage.points.reduce((s, p) => s + p.sum, 0),
    DISTINCT * 12,
  );
});

test('Azure Monitor: past 2000 dimension sets per entry and interval, values fold into __other__', async () => {
  const receiver = await startReceiver('ok', trackAnswer);
  const sinks = createMetricSinks(
    {
      metrics: {
        azureMonitor: {
          connectionString: `InstrumentationKey=0f3c6a8e-1b2d-4e5f-8a9b-0c1d2e3f4a5b;IngestionEndpoint=${receiver.url}`,
        },
      },
      tokenMetrics: [
        {
          namespace: 't',
          dimensions: ['Subscription ID'],
          maxValuesPerDimension: 1000,
          cardinalityWindow: 1,
        },
      ],
      gateway: { id: 'g', location: 'l' } as never,
    },
    new Registry(),
    pino({ level: 'silent' }),
    { azureIntervalMs: 3_600_000, maxQueuedPoints: 100_000 },
  );
  for (let i = 0; i < DISTINCT; i++) sinks.azureMonitor?.observe(record(i));
  await sinks.close();
  await receiver.close();
  const totals = receiver.accepted
    .flatMap((r) => JSON.parse(r.body.toString('utf8')) as MetricEnvelope[])
    .filter((e) => e.data.baseData.metrics[0]?.name === 'Total Tokens');
  assert.equal(totals.length, AZURE_MAX_SERIES_PER_INTERVAL + 1);
  const other = totals.filter((e) => e.data.baseData.properties['Subscription ID'] === '__other__');
  assert.equal(other.length, 1);
  assert.equal(other[0]?.data.baseData.metrics[0]?.count, DISTINCT - AZURE_MAX_SERIES_PER_INTERVAL);
  assert.equal(
    totals.reduce((s, e) => s + (e.data.baseData.metrics[0]?.value ?? 0), 0),
    DISTINCT * 12,
  );
});
