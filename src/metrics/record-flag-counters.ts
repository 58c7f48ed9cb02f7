import { Counter, type Registry } from 'prom-client';
import type { RecordFlag, UsageRecord } from '../ledger/record.js';

/**
 * The metric each record flag is counted in, labelled by the backend that served the call
 * (backend ids come from the configuration, so the label set is bounded).
 */
export const FLAG_METRICS: Readonly<Record<RecordFlag, { name: string; help: string }>> = {
  dimension_truncated: {
    name: 'tokenmeter_dimension_truncated_total',
    help: 'Calls with a dimension value longer than the ledger keeps (cut and flagged).',
  },
  usage_invalid: {
    name: 'tokenmeter_usage_invalid_total',
    help: 'Calls whose backend reported counts that are not sane token counts (ignored, estimated).',
  },
  usage_unreadable: {
    name: 'tokenmeter_usage_unreadable_total',
    help: 'Successful calls whose usage could not be read from the answer (estimated).',
  },
  event_too_large: {
    name: 'tokenmeter_stream_event_too_large_total',
    help: 'Streamed calls with an event larger than gateway.maxEventBytes.',
  },
  billed_counts_differ: {
    name: 'tokenmeter_billed_counts_differ_total',
    help: "Calls whose model-reported counts disagreed with the provider's billed counts (billed counts recorded).",
  },
};

/** Counts flagged records, one counter per flag (created up front so they show as 0). */
export function createRecordFlagCounters(registry: Registry): { observe(record: UsageRecord): void } {
  const counters = new Map<RecordFlag, Counter<'backend'>>();
  for (const [flag, { name, help }] of Object.entries(FLAG_METRICS) as [
    RecordFlag,
    { name: string; help: string },
  ][]) {
    counters.set(flag, new Counter({ name, help, labelNames: ['backend'], registers: [registry] }));
  }
  return {
    observe(record) {
      if (record.flags === undefined) return;
      for (const flag of record.flags) counters.get(flag)?.inc({ backend: record.backend ?? '' });
    },
  };
}
