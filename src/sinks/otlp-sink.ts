import type { Attributes, Histogram } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import {
  AggregationTemporalityPreference,
  OTLPMetricExporter as JsonExporter,
} from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtobufExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  MeterProvider,
  MetricReader,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import type { Logger } from 'pino';
import type { OtlpConfig } from '../config/schema.js';
import type { RecordObserver } from '../gateway/record-sink.js';
import { capLabelValue } from '../dimensions/value-cap.js';
import type { UsageRecord } from '../ledger/record.js';
import { startExportLoop, type ExportLoop } from './export-loop.js';
import {
  GEN_AI,
  genAiErrorType,
  genAiOperationName,
  genAiProviderName,
  OPERATION_DURATION_BUCKETS,
  TOKEN_USAGE_BUCKETS,
} from './genai-conventions.js';
import type { SinkCounters } from './sink-counters.js';
import type { SinkDimension } from './sink-dimensions.js';

/**
 * The SDK's cardinality limit per instrument and collection: past 2000 distinct attribute sets
 * in one interval the SDK folds further sets into one `otel.metric.overflow=true` point (the
 * SDK's default, set here explicitly so the bound is ours).
 */
export const OTLP_CARDINALITY_LIMIT = 2000;

/** Dimensions the gen_ai.* attributes already carry. */
const COVERED_BY_GEN_AI = new Set(['model', 'responseModel', 'provider']);

export interface OtlpSinkOptions {
  config: OtlpConfig;
  /** The tokenMetrics entries' dimensions, each key once (the union over the entries). */
  dimensions: readonly SinkDimension[];
  /** Resource attributes besides service.name (the gateway's id and location). */
  resource: Attributes;
  counters: SinkCounters;
  log: Logger;
  timeoutMs: number;
  maxQueuedPoints: number;
}

export interface OtlpSink extends RecordObserver {
  readonly loop: ExportLoop;
  close(): Promise<void>;
}

/** A reader the export loop collects from on its own timer (the SDK's periodic reader has no queue). */
class CollectOnDemand extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

function pointsOf(metrics: ResourceMetrics): number {
  let points = 0;
  for (const scope of metrics.scopeMetrics)
    for (const metric of scope.metrics) points += metric.dataPoints.length;
  return points;
}

/**
 * OpenTelemetry metrics over OTLP (http/protobuf or http/json), following the GenAI semantic
 * conventions: `gen_ai.client.token.usage` ({token}; one measurement per token type,
 * `gen_ai.token.type` input/output) and `gen_ai.client.operation.duration` (s), with the
 * conventions' bucket boundaries as advice, `gen_ai.operation.name`, `gen_ai.provider.name`,
 * `gen_ai.request.model`, `gen_ai.response.model`, `error.type` on failed calls' durations, and
 * the tokenMetrics dimensions as attributes.
 *
 * Temporality is delta: each interval's points stand alone, so points kept through an outage
 * add up exactly when they are finally sent, and dropping the oldest loses only those intervals.
 * observe() records into the SDK's in-memory aggregation; collection and export run on the
 * export loop's timer.
 */
export function createOtlpSink(options: OtlpSinkOptions): OtlpSink {
  const { config, counters, log } = options;
  const exporterConfig = {
    url: config.endpoint,
    headers: config.headers,
    timeoutMillis: options.timeoutMs,
    temporalityPreference: AggregationTemporalityPreference.DELTA,
  };
  const exporter: PushMetricExporter =
    config.protocol === 'http/json' ? new JsonExporter(exporterConfig) : new ProtobufExporter(exporterConfig);
  const reader = new CollectOnDemand({
    aggregationTemporalitySelector: (type) => exporter.selectAggregationTemporality?.(type) ?? 1,
    cardinalitySelector: () => OTLP_CARDINALITY_LIMIT,
  });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': 'tokenmeter', ...options.resource }),
    readers: [reader],
  });
  const meter = provider.getMeter('tokenmeter');
  const tokens: Histogram = meter.createHistogram(GEN_AI.tokenUsage, {
    unit: '{token}',
    description: 'Measures number of input and output tokens used',
    advice: { explicitBucketBoundaries: TOKEN_USAGE_BUCKETS },
  });
  const duration: Histogram = meter.createHistogram(GEN_AI.operationDuration, {
    unit: 's',
    description: 'GenAI operation duration',
    advice: { explicitBucketBoundaries: OPERATION_DURATION_BUCKETS },
  });
  const dimensions = options.dimensions.filter((d) => !COVERED_BY_GEN_AI.has(d.key));

  const loop = startExportLoop<ResourceMetrics>({
    sink: 'otlp',
    intervalMs: config.intervalMs,
    timeoutMs: options.timeoutMs,
    maxQueuedPoints: options.maxQueuedPoints,
    maxBatchItems: 1,
    counters,
    log,
    async cut() {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length > 0) log.warn({ errors }, 'OpenTelemetry collection reported errors');
      return pointsOf(resourceMetrics) > 0 ? [resourceMetrics] : [];
    },
    weigh: pointsOf,
    send: (batch) =>
      new Promise((resolve, reject) => {
        const [metrics] = batch;
        if (metrics === undefined) {
          resolve({ retry: [], rejectedPoints: 0 });
          return;
        }
        exporter.export(metrics, (result) => {
          // The exporters may bundle their own copy of @opentelemetry/core: compare the values.
          if (Number(result.code) === Number(ExportResultCode.SUCCESS))
            resolve({ retry: [], rejectedPoints: 0 });
          else reject(result.error ?? new Error('OTLP export failed'));
        });
      }),
  });

  return {
    loop,
    observe(record: UsageRecord) {
      const attributes: Attributes = {
        [GEN_AI.operationName]: genAiOperationName(record.operation),
        [GEN_AI.providerName]: genAiProviderName(record.provider),
      };
      if (record.model !== undefined) attributes[GEN_AI.requestModel] = capLabelValue(record.model);
      if (record.responseModel !== undefined)
        attributes[GEN_AI.responseModel] = capLabelValue(record.responseModel);
      for (const dimension of dimensions) {
        const value = dimension.read(record);
        if (value !== '') attributes[dimension.key] = value;
      }
      if (record.promptTokens !== undefined)
        tokens.record(record.promptTokens, { ...attributes, [GEN_AI.tokenType]: 'input' });
      if (record.completionTokens !== undefined)
        tokens.record(record.completionTokens, { ...attributes, [GEN_AI.tokenType]: 'output' });
      const errorType = genAiErrorType(record);
      if (errorType !== undefined) attributes[GEN_AI.errorType] = errorType;
      duration.record(record.latencyMs / 1000, attributes);
    },
    async close() {
      await loop.close();
      await provider.shutdown().catch(() => undefined);
      await exporter.shutdown().catch(() => undefined);
    },
  };
}
