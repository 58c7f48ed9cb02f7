import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import { TokenmeterError } from '../errors.js';
import type { RecordObserver } from '../gateway/record-sink.js';
import { DEFAULT_TOKEN_METRICS } from '../metrics/prometheus-metrics.js';
import { createAzureMonitorSink, type AzureMonitorSink } from './azure-monitor-sink.js';
import { parseConnectionString } from './connection-string.js';
import { createOtlpSink, type OtlpSink } from './otlp-sink.js';
import { createSinkCounters } from './sink-counters.js';
import { sinkDimension, type SinkDimension } from './sink-dimensions.js';

/** Tunables of the sinks besides the configuration (tests shorten them). */
export interface MetricSinkOptions {
  /** The most one export request may take, milliseconds (default 10 000). */
  timeoutMs?: number;
  /** Points each sink holds at most while its endpoint does not take them (default 20 000). */
  maxQueuedPoints?: number;
  /** Azure Monitor's pre-aggregation period, milliseconds (default 60 000, APIM's minute). */
  azureIntervalMs?: number;
}

/** The metric sinks the configuration asks for. */
export interface MetricSinks {
  /** Record observers to hand the record sink (none when no sink is configured). */
  readonly observers: readonly RecordObserver[];
  readonly otlp: OtlpSink | undefined;
  readonly azureMonitor: AzureMonitorSink | undefined;
  /** One last bounded export of each sink; then their timers are gone. */
  close(): Promise<void>;
}

/**
 * Creates the OTLP and Azure Monitor sinks configured under `metrics`, and registers their
 * counters on the gateway's registry. Without either, nothing is created and nothing runs.
 *
 * @throws TokenmeterError TM_CONFIG_INVALID for a connection string the schema let through
 * (configurations built without the schema)
 */
export function createMetricSinks(
  config: Pick<Config, 'metrics' | 'tokenMetrics' | 'gateway'>,
  registry: Registry,
  log: Logger,
  options: MetricSinkOptions = {},
): MetricSinks {
  const { otlp: otlpConfig, azureMonitor: azureConfig } = config.metrics;
  if (otlpConfig === undefined && azureConfig === undefined)
    return { observers: [], otlp: undefined, azureMonitor: undefined, close: () => Promise.resolve() };
  const counters = createSinkCounters(registry);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxQueuedPoints = options.maxQueuedPoints ?? 20_000;
  const entries = config.tokenMetrics.length > 0 ? config.tokenMetrics : DEFAULT_TOKEN_METRICS;
  let azureMonitor: AzureMonitorSink | undefined;
  if (azureConfig !== undefined) {
    const target = parseConnectionString(azureConfig.connectionString);
    if ('error' in target)
      throw new TokenmeterError('TM_CONFIG_INVALID', `metrics.azureMonitor.connectionString ${target.error}`);
    azureMonitor = createAzureMonitorSink({
      target,
      entries,
      roleInstance: config.gateway.id,
      counters,
      log,
      intervalMs: options.azureIntervalMs ?? 60_000,
      timeoutMs,
      maxQueuedPoints,
    });
  }
  const otlp =
    otlpConfig === undefined
      ? undefined
      : createOtlpSink({
          config: otlpConfig,
          dimensions: unionOfDimensions(entries),
          resource: {
            'service.instance.id': config.gateway.id,
            'tokenmeter.gateway.id': config.gateway.id,
            'tokenmeter.gateway.location': config.gateway.location,
          },
          counters,
          log,
          timeoutMs,
          maxQueuedPoints,
        });
  const sinks = [otlp, azureMonitor].filter((s) => s !== undefined);
  return {
    observers: sinks,
    otlp,
    azureMonitor,
    async close() {
      await Promise.all(sinks.map((s) => s.close()));
    },
  };
}

/** Each dimension of the entries once, by key (OTLP records every call once, whatever the scopes). */
function unionOfDimensions(
  entries: readonly Pick<Config['tokenMetrics'][number], 'dimensions'>[],
): SinkDimension[] {
  const byKey = new Map<string, SinkDimension>();
  for (const entry of entries)
    for (const dimension of entry.dimensions) {
      const sink = sinkDimension(dimension);
      if (!byKey.has(sink.key)) byKey.set(sink.key, sink);
    }
  return [...byKey.values()];
}
