import type { Logger } from 'pino';
import type { TokenMetricConfig } from '../config/schema.js';
import type { RecordObserver } from '../gateway/record-sink.js';
import type { UsageRecord } from '../ledger/record.js';
import type { AppInsightsTarget } from './connection-string.js';
import { startExportLoop, type ExportLoop, type SendResult } from './export-loop.js';
import type { SinkCounters } from './sink-counters.js';
import { scopeMatcher, sinkDimension, type SinkDimension } from './sink-dimensions.js';

/** APIM's metric names (azure-openai-emit-token-metric / llm-emit-token-metric) and our fields. */
const APIM_METRICS = [
  ['Prompt Tokens', 'promptTokens'],
  ['Completion Tokens', 'completionTokens'],
  ['Total Tokens', 'totalTokens'],
] as const;

/** Distinct dimension sets one entry keeps per interval; beyond, they fold into one `__other__` set. */
export const AZURE_MAX_SERIES_PER_INTERVAL = 2000;

/** The value every dimension takes in the set that folds the sets past the bound. */
const OVERFLOW_VALUE = '__other__';

/** Envelopes per POST (the endpoint takes more; smaller requests fail and retry cheaper). */
const MAX_ENVELOPES_PER_REQUEST = 500;

/** Per-item status codes the track endpoint asks to be sent again (as Microsoft's SDKs retry). */
const RETRIABLE_ITEM_STATUS = new Set([408, 429, 439, 500, 502, 503, 504]);

/** One Application Insights telemetry item as POSTed to /v2.1/track. */
export interface MetricEnvelope {
  name: 'Microsoft.ApplicationInsights.Metric';
  time: string;
  iKey: string;
  sampleRate: number;
  tags: Record<string, string>;
  data: {
    baseType: 'MetricData';
    baseData: {
      ver: 2;
      metrics: {
        name: string;
        ns: string;
        kind: 'Aggregation';
        value: number;
        count: number;
        min: number;
        max: number;
      }[];
      properties: Record<string, string>;
    };
  };
}

interface Aggregate {
  metric: string;
  properties: Record<string, string>;
  value: number;
  count: number;
  min: number;
  max: number;
}

interface EntryAggregates {
  namespace: string;
  dimensions: SinkDimension[];
  inScope: (record: UsageRecord) => boolean;
  /** By metric name and dimension values. */
  series: Map<string, Aggregate>;
  /** Dimension value sets seen this interval. */
  sets: Set<string>;
}

export interface AzureMonitorSinkOptions {
  target: AppInsightsTarget;
  entries: readonly Pick<TokenMetricConfig, 'namespace' | 'dimensions' | 'scope'>[];
  /** ai.cloud.roleInstance (the gateway id). */
  roleInstance: string;
  counters: SinkCounters;
  log: Logger;
  /** Pre-aggregation period, milliseconds (APIM: one minute). */
  intervalMs: number;
  timeoutMs: number;
  maxQueuedPoints: number;
}

export interface AzureMonitorSink extends RecordObserver {
  readonly loop: ExportLoop;
  close(): Promise<void>;
}

/**
 * Application Insights custom metrics shaped as APIM's token metric policy emits them:
 * `Prompt Tokens`, `Completion Tokens` and `Total Tokens` in each tokenMetrics entry's namespace,
 * the entry's dimensions as customDimensions under APIM's names. Each interval (a minute by
 * default, like APIM) one aggregated point (sum, count, min, max) per metric and dimension set
 * is sent as a `Microsoft.ApplicationInsights.Metric` envelope to `<IngestionEndpoint>/v2.1/track`
 * (the OpenTelemetry exporter cannot set the namespace nor, within the OpenTelemetry API's rules,
 * a name with spaces: docs/metric-sinks.md).
 */
export function createAzureMonitorSink(options: AzureMonitorSinkOptions): AzureMonitorSink {
  const { target, counters, log } = options;
  const entries: EntryAggregates[] = options.entries.map((entry) => ({
    namespace: entry.namespace,
    dimensions: entry.dimensions.map(sinkDimension),
    inScope: scopeMatcher(entry.scope),
    series: new Map(),
    sets: new Set(),
  }));
  const tags = { 'ai.cloud.role': 'tokenmeter', 'ai.cloud.roleInstance': options.roleInstance };
  const trackUrl = `${target.ingestionEndpoint}/v2.1/track`;
  let intervalStart = Date.now();

  const observeEntry = (entry: EntryAggregates, record: UsageRecord): void => {
    let values = entry.dimensions.map((d) => d.read(record));
    let setKey = values.join('\u0000');
    if (!entry.sets.has(setKey)) {
      if (entry.sets.size >= AZURE_MAX_SERIES_PER_INTERVAL) {
        values = values.map(() => OVERFLOW_VALUE);
        setKey = values.join('\u0000');
      }
      entry.sets.add(setKey);
    }
    for (const [metric, field] of APIM_METRICS) {
      const value = record[field];
      if (value === undefined) continue;
      const key = `${metric}\u0000${setKey}`;
      const aggregate = entry.series.get(key);
      if (aggregate === undefined) {
        const properties: Record<string, string> = {};
        entry.dimensions.forEach((d, i) => {
          const v = values[i] ?? '';
          if (v !== '') properties[d.apimName] = v;
        });
        entry.series.set(key, { metric, properties, value, count: 1, min: value, max: value });
      } else {
        aggregate.value += value;
        aggregate.count += 1;
        if (value < aggregate.min) aggregate.min = value;
        if (value > aggregate.max) aggregate.max = value;
      }
    }
  };

  const cut = (): Promise<MetricEnvelope[]> => {
    const time = new Date(intervalStart).toISOString();
    intervalStart = Date.now();
    const envelopes: MetricEnvelope[] = [];
    for (const entry of entries) {
      for (const a of entry.series.values())
        envelopes.push({
          name: 'Microsoft.ApplicationInsights.Metric',
          time,
          iKey: target.instrumentationKey,
          sampleRate: 100,
          tags,
          data: {
            baseType: 'MetricData',
            baseData: {
              ver: 2,
              metrics: [
                {
                  name: a.metric,
                  ns: entry.namespace,
                  kind: 'Aggregation',
                  value: a.value,
                  count: a.count,
                  min: a.min,
                  max: a.max,
                },
              ],
              properties: a.properties,
            },
          },
        });
      entry.series.clear();
      entry.sets.clear();
    }
    return Promise.resolve(envelopes);
  };

  const send = async (
    batch: readonly MetricEnvelope[],
    signal: AbortSignal,
  ): Promise<SendResult<MetricEnvelope>> => {
    const response = await fetch(trackUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(batch),
      signal,
    });
    const text = await response.text();
    if (response.status === 200 || response.status === 206 || response.status === 400) {
      const errors = itemErrors(text);
      if (response.status === 400 && errors === undefined) return { retry: [], rejectedPoints: batch.length };
      const retry: MetricEnvelope[] = [];
      let rejectedPoints = 0;
      for (const error of errors ?? []) {
        const item = batch[error.index];
        if (item === undefined) continue;
        if (RETRIABLE_ITEM_STATUS.has(error.statusCode)) retry.push(item);
        else rejectedPoints += 1;
      }
      if (rejectedPoints > 0)
        log.error({ errors: errors?.slice(0, 3) }, 'Application Insights refused metric items');
      return { retry, rejectedPoints };
    }
    throw new Error(`Application Insights answered ${response.status}`);
  };

  const loop = startExportLoop<MetricEnvelope>({
    sink: 'azureMonitor',
    intervalMs: options.intervalMs,
    timeoutMs: options.timeoutMs,
    maxQueuedPoints: options.maxQueuedPoints,
    maxBatchItems: MAX_ENVELOPES_PER_REQUEST,
    counters,
    log,
    cut,
    weigh: () => 1,
    send,
  });

  return {
    loop,
    observe(record) {
      for (const entry of entries) if (entry.inScope(record)) observeEntry(entry, record);
    },
    close: () => loop.close(),
  };
}

/** The per-item errors of a track response (`{itemsReceived, itemsAccepted, errors:[…]}`). */
function itemErrors(text: string): { index: number; statusCode: number; message?: string }[] | undefined {
  try {
    const body: unknown = JSON.parse(text);
    if (typeof body !== 'object' || body === null || !('errors' in body) || !Array.isArray(body.errors))
      return undefined;
    return body.errors.filter(
      (e: unknown): e is { index: number; statusCode: number } =>
        typeof e === 'object' &&
        e !== null &&
        typeof (e as { index?: unknown }).index === 'number' &&
        typeof (e as { statusCode?: unknown }).statusCode === 'number',
    );
  } catch {
    return undefined;
  }
}
