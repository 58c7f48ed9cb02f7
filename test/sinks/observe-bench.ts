// Measures what observe(record) costs each sink on the recording path (µs per record), with the
// endpoints unreachable so nothing but the in-memory aggregation runs. Not a test (no timed
// assertions); run by hand: node --import tsx test/sinks/observe-bench.ts
import pino from 'pino';
import { Registry } from 'prom-client';
import type { UsageRecord } from '../../src/ledger/record.js';
import { createMetricSinks } from '../../src/sinks/metric-sinks.js';

const RECORDS = 200_000;
const SUBSCRIPTIONS = 50;
const MODELS = ['gpt-4o-mini', 'gpt-4o', 'claude-sonnet-4-5', 'gemini-2.5-flash'];

function record(i: number): UsageRecord {
  return {
    id: `r${i}`,
    time: Date.now(),
    api: 'openai',
    operation: 'chat.completions',
    subscription: `team-${i % SUBSCRIPTIONS}`,
    product: 'std',
    model: MODELS[i % MODELS.length] ?? '',
    responseModel: `${MODELS[i % MODELS.length] ?? ''}-2024`,
    provider: 'openai',
    backend: 'oai',
    stream: false,
    custom: { app: `app-${i % 7}` },
    source: 'reported',
    status: 200,
    latencyMs: 120 + (i % 900),
    promptTokens: 100 + (i % 1000),
    completionTokens: 20 + (i % 300),
    totalTokens: 120 + (i % 1000) + (i % 300),
  };
}

const tokenMetrics = [
  {
    namespace: 'openai_usage',
    dimensions: ['API ID', 'Subscription ID', 'model', { name: 'app', value: 'x' }],
    maxValuesPerDimension: 1000,
    cardinalityWindow: 3_600_000,
  },
];
const records = Array.from({ length: RECORDS }, (_, i) => record(i));

for (const which of ['otlp', 'azureMonitor'] as const) {
  const metrics =
    which === 'otlp'
      ? {
          otlp: {
            endpoint: 'http://127.0.0.1:9/v1/metrics',
            headers: {},
            intervalMs: 3_600_000,
            protocol: 'http/protobuf' as const,
          },
        }
      : {
          azureMonitor: {
            connectionString:
              'InstrumentationKey=0f3c6a8e-1b2d-4e5f-8a9b-0c1d2e3f4a5b;IngestionEndpoint=http://127.0.0.1:9',
          },
        };
  const sinks = createMetricSinks(
    { metrics, tokenMetrics, gateway: { id: 'g', location: 'l' } as never },
    new Registry(),
    pino({ level: 'silent' }),
    { azureIntervalMs: 3_600_000, timeoutMs: 100 },
  );
  const [observer] = sinks.observers;
  if (observer === undefined) throw new Error('no sink');
  for (let i = 0; i < 20_000; i++) observer.observe(records[i] as UsageRecord); // warm-up
  const start = process.hrtime.bigint();
  for (const r of records) observer.observe(r);
  const ns = Number(process.hrtime.bigint() - start);
  console.log(
    `${which}: ${(ns / RECORDS / 1000).toFixed(2)} µs per observe (${RECORDS} records, ${SUBSCRIPTIONS * MODELS.length * 7} max dimension sets)`,
  );
  await sinks.close();
}
