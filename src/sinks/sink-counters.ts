import { Counter, Gauge, type Registry } from 'prom-client';

/** The metric sinks, as their label value. */
export type SinkName = 'otlp' | 'azureMonitor';

/** How one export attempt ended. */
export type ExportOutcome = 'success' | 'failure' | 'rejected';

/** The Prometheus counters of the metric sinks, shared by every sink of one gateway. */
export interface SinkCounters {
  /** Points dropped oldest-first because the sink's queue was full (or left unsent at stop). */
  dropped(sink: SinkName, points: number): void;
  /** One export attempt (one request) and how it ended. */
  exported(sink: SinkName, outcome: ExportOutcome): void;
  /** Exposes the points a sink holds, read at each scrape. */
  exposeQueued(sink: SinkName, read: () => number): void;
}

/**
 * Registers `tokenmeter_metric_export_dropped_total{sink}`, `tokenmeter_metric_exports_total{sink,
 * outcome}` and `tokenmeter_metric_export_queued_points{sink}` on the gateway's registry
 * (GET /metrics), so an operator sees a sink that cannot deliver without reading logs.
 */
export function createSinkCounters(registry: Registry): SinkCounters {
  const dropped = new Counter({
    name: 'tokenmeter_metric_export_dropped_total',
    help: 'Metric points a sink dropped, oldest first, because its bounded queue was full (endpoint down, slow or failing), or left unsent at stop.',
    labelNames: ['sink'],
    registers: [registry],
  });
  const exports = new Counter({
    name: 'tokenmeter_metric_exports_total',
    help: 'Export requests of the metric sinks, by outcome (success; failure: kept and retried; rejected: refused by the endpoint as invalid, not retried).',
    labelNames: ['sink', 'outcome'],
    registers: [registry],
  });
  const readers = new Map<SinkName, () => number>();
  new Gauge({
    name: 'tokenmeter_metric_export_queued_points',
    help: 'Metric points a sink holds for export (waiting, or kept for a retry).',
    labelNames: ['sink'],
    registers: [registry],
    collect() {
      for (const [sink, read] of readers) this.set({ sink }, read());
    },
  });
  return {
    dropped(sink, points) {
      if (points > 0) dropped.inc({ sink }, points);
    },
    exported(sink, outcome) {
      exports.inc({ sink, outcome });
    },
    exposeQueued(sink, read) {
      readers.set(sink, read);
    },
  };
}
