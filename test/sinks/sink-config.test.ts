// Bad sink settings are configuration errors with a clear message naming the key, found by the
// config check (parseConfig, as `tokenmeter config check` and `serve` run it); the message never
// repeats a connection string (it holds the instrumentation key).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import { parseConnectionString, DEFAULT_INGESTION_ENDPOINT } from '../../src/sinks/connection-string.js';
import { createMetricSinks } from '../../src/sinks/metric-sinks.js';
import { TokenmeterError } from '../../src/errors.js';
import { issuesOf, MINIMAL, yamlLines } from '../config/helpers.js';

const IKEY = '0f3c6a8e-1b2d-4e5f-8a9b-0c1d2e3f4a5b';

function azureIssue(connectionString: string): string {
  const issues = issuesOf(
    yamlLines(...MINIMAL, 'metrics:', '  azureMonitor:', `    connectionString: "${connectionString}"`),
  );
  assert.equal(issues.length, 1);
  const [issue] = issues;
  assert.equal(issue?.path, 'metrics.azureMonitor.connectionString');
  assert.equal(issue?.line, 19);
  assert.ok(!(issue?.message ?? '').includes(IKEY), 'the message does not repeat the key');
  return issue?.message ?? '';
}

test('bad connection strings are rejected by the config check with a clear message', () => {
  assert.match(
    azureIssue('IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/'),
    /no InstrumentationKey/,
  );
  assert.match(azureIssue('InstrumentationKey='), /no InstrumentationKey/);
  assert.match(azureIssue('just-some-text'), /"Key=value" pairs separated by ";"/);
  assert.match(azureIssue('InstrumentationKey=not-a-guid'), /must be a GUID/);
  assert.match(azureIssue(`InstrumentationKey=${IKEY};IngestionEndpoint=westeurope`), /absolute http/);
  assert.match(azureIssue(`InstrumentationKey=${IKEY};IngestionEndpoint=ftp://in.example.com`), /not ftp:/);
  assert.match(azureIssue(`InstrumentationKey=${IKEY};Authorization=AAD`), /Entra ID/);
  assert.match(azureIssue(''), /no InstrumentationKey/);
});

test('bad OTLP settings are rejected by the config check', () => {
  const otlp = (...lines: string[]) => issuesOf(yamlLines(...MINIMAL, 'metrics:', '  otlp:', ...lines));
  let [issue] = otlp('    endpoint: otel-collector:4318');
  assert.equal(issue?.path, 'metrics.otlp.endpoint');
  assert.match(issue?.message ?? '', /http/);
  [issue] = otlp('    endpoint: grpc://otel-collector:4317');
  assert.match(issue?.message ?? '', /http:\/\/ or https:\/\//);
  [issue] = otlp('    endpoint: http://otel:4318/v1/metrics', '    protocol: grpc');
  assert.equal(issue?.path, 'metrics.otlp.protocol');
  [issue] = otlp('    endpoint: http://otel:4318/v1/metrics', '    intervalMs: 5');
  assert.equal(issue?.path, 'metrics.otlp.intervalMs');
  [issue] = otlp('    protocol: http/json');
  assert.equal(issue?.path, 'metrics.otlp.endpoint');
});

test('connection strings parse as the Application Insights SDKs read them', () => {
  assert.deepEqual(parseConnectionString(`InstrumentationKey=${IKEY}`), {
    instrumentationKey: IKEY,
    ingestionEndpoint: DEFAULT_INGESTION_ENDPOINT,
  });
  assert.deepEqual(
    parseConnectionString(
      ` instrumentationkey = ${IKEY} ; INGESTIONENDPOINT=https://westeurope-5.in.applicationinsights.azure.com/;LiveEndpoint=https://x/;ApplicationId=abc;`,
    ),
    { instrumentationKey: IKEY, ingestionEndpoint: 'https://westeurope-5.in.applicationinsights.azure.com' },
  );
  assert.deepEqual(
    parseConnectionString(
      `InstrumentationKey=${IKEY};EndpointSuffix=applicationinsights.azure.cn;Location=chinaeast2`,
    ),
    {
      instrumentationKey: IKEY,
      ingestionEndpoint: 'https://chinaeast2.dc.applicationinsights.azure.cn',
    },
  );
});

test('a configuration built without the schema still cannot start an Azure sink with a bad connection string', () => {
  assert.throws(
    () =>
      createMetricSinks(
        {
          metrics: { azureMonitor: { connectionString: 'InstrumentationKey=nope' } },
          tokenMetrics: [],
          gateway: { id: 'g', location: 'l' } as never,
        },
        new Registry(),
        pino({ level: 'silent' }),
      ),
    (err: unknown) =>
      err instanceof TokenmeterError && err.code === 'TM_CONFIG_INVALID' && /GUID/.test(err.message),
  );
});

test('without metrics sinks configured nothing is created', () => {
  const registry = new Registry();
  const sinks = createMetricSinks(
    { metrics: {}, tokenMetrics: [], gateway: { id: 'g', location: 'l' } as never },
    registry,
    pino({ level: 'silent' }),
  );
  assert.equal(sinks.observers.length, 0);
  assert.equal(registry.getMetricsAsArray().length, 0);
});
