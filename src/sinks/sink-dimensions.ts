import type { DimensionConfig, MetricScope } from '../config/schema.js';
import { APIM_DIMENSION_ALIASES, canonicalDimensionKey } from '../dimensions/dimension-names.js';
import { capLabelValue } from '../dimensions/value-cap.js';
import type { UsageRecord } from '../ledger/record.js';

/** A tokenMetrics dimension as the sinks read it. */
export interface SinkDimension {
  /** The canonical key of a default dimension, or a custom dimension's name (OTLP attribute). */
  key: string;
  /** The name APIM's emit-token-metric policy gives it (Azure Monitor's customDimensions key). */
  apimName: string;
  /** The record's value, capped to 128 characters; "" when the record has none. */
  read(record: UsageRecord): string;
}

const APIM_NAME_OF_KEY: ReadonlyMap<string, string> = new Map(
  Object.entries(APIM_DIMENSION_ALIASES).map(([apim, key]) => [key, apim]),
);

/**
 * Reads a tokenMetrics dimension the way the Prometheus emitter does (same cap), and names it
 * for each sink: a default dimension by its canonical key for OTLP and by APIM's name ("API ID",
 * "Subscription ID", …) for Azure Monitor whichever spelling the configuration used; a default
 * dimension APIM has no name for (model, backend, …) and a custom one keep the name as written.
 *
 * @throws Error for a name that is neither a default dimension nor `{name, value}` (the schema
 * has rejected it before)
 */
export function sinkDimension(dimension: DimensionConfig): SinkDimension {
  if (typeof dimension !== 'string') {
    const { name } = dimension;
    return { key: name, apimName: name, read: (r) => capLabelValue(r.custom[name] ?? '') };
  }
  const key = canonicalDimensionKey(dimension);
  if (key === undefined) throw new Error(`unknown dimension "${dimension}"`);
  return {
    key,
    apimName: APIM_NAME_OF_KEY.get(key) ?? dimension.trim(),
    read: (r) => {
      const v = r[key];
      return v === undefined ? '' : capLabelValue(String(v));
    },
  };
}

/**
 * Whether a record is in a tokenMetrics entry's scope: every key the scope gives must match
 * (the same rule as the Prometheus emitter's).
 */
export function scopeMatcher(scope: MetricScope | undefined): (record: UsageRecord) => boolean {
  if (scope === undefined) return () => true;
  const { product, api, operation } = scope;
  return (r) =>
    (product === undefined || r.product === product) &&
    (api === undefined || r.api === api) &&
    (operation === undefined || r.operation === operation);
}
