import { Counter, Gauge, Registry } from 'prom-client';
import type { RecordObserver } from '../gateway/record-sink.js';
import { createRecordFlagCounters } from './record-flag-counters.js';
import { flushCells, type Cell } from './series-store.js';
import { createTokenEmitter, type EmitterConfig, type TokenEmitter } from './token-emitter.js';

export type { EmitterConfig } from './token-emitter.js';

/** When no tokenMetrics entry is configured, this one is used. */
export const DEFAULT_TOKEN_METRICS: EmitterConfig[] = [
  { namespace: 'tokenmeter', dimensions: ['api', 'operation', 'subscription', 'model', 'backend'] },
];

/** Prometheus exposition of the token metrics; each tokenMetrics entry is one pair of counters. */
export interface PrometheusMetrics extends RecordObserver {
  readonly registry: Registry;
  /** The exposition text for GET /metrics (values and series unseen for their window are dropped first). */
  render(): Promise<string>;
  /** Exposes an internal figure, read at each scrape (e.g. ledger append failures). */
  addInternalGauge(name: string, help: string, read: () => number): void;
  readonly contentType: string;
  /** The emitters, in configuration order (tests, diagnostics). */
  readonly emitters: readonly TokenEmitter[];
}

/** Options of {@link createPrometheusMetrics}. */
export interface PrometheusMetricsOptions {
  /** A monotonic clock in ms for the cardinality windows (default `performance.now`); tests inject one. */
  clock?: () => number;
}

/**
 * Builds one emitter per tokenMetrics entry (see createTokenEmitter: its scope, its labels capped
 * to 128 characters, its own cardinality guard of `maxValuesPerDimension` values per label over
 * `cardinalityWindow`), plus the record flag counters and
 * `tokenmeter_metric_label_overflow_total{namespace, label}`. The ledger keeps the true values.
 *
 * @throws Error for a dimension name that is neither a default dimension nor `{name, value}`
 */
export function createPrometheusMetrics(
  entries: readonly EmitterConfig[],
  options: PrometheusMetricsOptions = {},
): PrometheusMetrics {
  const registry = new Registry();
  const clock = options.clock ?? (() => performance.now());
  const overflowCells = new Set<Cell>();
  const overflow: Counter = new Counter({
    name: 'tokenmeter_metric_label_overflow_total',
    help: 'Label values folded into __other__ by the cardinality guard of an emitter.',
    labelNames: ['namespace', 'label'],
    registers: [registry],
    collect: () => flushCells(overflow, overflowCells),
  });
  const flagCounters = createRecordFlagCounters(registry);
  const emitters = (entries.length > 0 ? entries : DEFAULT_TOKEN_METRICS).map((entry) =>
    createTokenEmitter(entry, { registry, overflowCells, clock }),
  );

  return {
    registry,
    emitters,
    contentType: registry.contentType,
    render() {
      for (const emitter of emitters) emitter.sweep();
      return registry.metrics();
    },
    addInternalGauge(name, help, read) {
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(read());
        },
      });
    },
    observe(record) {
      flagCounters.observe(record);
      // One clock read per record, whatever the number of emitters (~0.1 µs each).
      const now = clock();
      for (const emitter of emitters) emitter.observe(record, now);
    },
  };
}
