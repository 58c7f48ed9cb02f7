import { Counter, type Registry } from 'prom-client';
import type { MetricScope, TokenMetricConfig } from '../config/schema.js';
import {
  createCardinalityGuard,
  DEFAULT_CARDINALITY_WINDOW_MS,
  DEFAULT_MAX_DISTINCT_VALUES,
  OVERFLOW_VALUE,
} from '../dimensions/cardinality-guard.js';
import { canonicalDimensionKey } from '../dimensions/dimension-names.js';
import { capLabelValue } from '../dimensions/value-cap.js';
import type { UsageRecord } from '../ledger/record.js';
import { createSeriesStore, flushCells, type Cell } from './series-store.js';

/** The token types a `<namespace>_tokens_total` counter is split by (DESIGN.md, "Metrics"). */
const TOKEN_TYPES = [
  ['prompt', 'promptTokens'],
  ['completion', 'completionTokens'],
  ['cached', 'cachedTokens'],
  ['cache_write', 'cacheWriteTokens'],
  ['reasoning', 'reasoningTokens'],
] as const;

/** An emitter as configured; the optional parts take the schema's defaults. */
export type EmitterConfig = Pick<TokenMetricConfig, 'namespace' | 'dimensions'> & Partial<TokenMetricConfig>;

type LabelReader = (record: UsageRecord) => string;

/**
 * The label of a dimension: the canonical key for default dimensions (APIM names accepted),
 * the given name for custom ones. Absent values become "" (Prometheus' "no value"). Every value
 * read is capped to MAX_LABEL_VALUE_CHARS (128) here, whatever the dimension, so no value
 * reaches the guard, a series key or prom-client uncapped.
 */
function labelFor(dimension: TokenMetricConfig['dimensions'][number]): { name: string; read: LabelReader } {
  if (typeof dimension !== 'string') {
    const name = dimension.name;
    return { name, read: (r) => capLabelValue(r.custom[name] ?? '') };
  }
  const key = canonicalDimensionKey(dimension);
  if (key === undefined) throw new Error(`unknown dimension "${dimension}"`);
  return {
    name: key,
    read: (r) => {
      const v = r[key];
      return v === undefined ? '' : capLabelValue(String(v));
    },
  };
}

/** Whether a record is in an emitter's scope: every key the scope gives must match. */
function scopeMatcher(scope: MetricScope | undefined): (record: UsageRecord) => boolean {
  if (scope === undefined) return () => true;
  const { product, api, operation } = scope;
  return (r) =>
    (product === undefined || r.product === product) &&
    (api === undefined || r.api === api) &&
    (operation === undefined || r.operation === operation);
}

/** What an emitter shares with the others: the registry and the overflow counter's cells. */
export interface EmitterContext {
  registry: Registry;
  /** Cells of `tokenmeter_metric_label_overflow_total`, flushed by its `collect`. */
  overflowCells: Set<Cell>;
  /** A monotonic clock in ms (the guard's and the series store's). */
  clock: () => number;
}

/** One tokenMetrics entry: its scope, its counters, its guard and its series. */
export interface TokenEmitter {
  readonly namespace: string;
  /** Counts a record in scope; `now` is the context's clock, read once per record for every emitter. */
  observe(record: UsageRecord, now: number): void;
  /** Releases values and series not seen for the window (before each scrape). */
  sweep(): void;
  /** Series held now (tests, diagnostics). */
  readonly seriesCount: number;
  /** Distinct values held now per label. */
  heldValues(): Record<string, number>;
}

/**
 * Creates the counters `<namespace>_tokens_total`, `<namespace>_requests_total` and
 * `<namespace>_cost_total` (the records' `cost`) of one entry,
 * counting only the records in its scope. Label values are capped (128 characters) and pass the
 * entry's own cardinality guard (maxValuesPerDimension over cardinalityWindow, see
 * createCardinalityGuard); a value the guard folds is counted in
 * `tokenmeter_metric_label_overflow_total{namespace, label}`. When the guard releases a value,
 * every series carrying it is removed from the exposition.
 *
 * @throws Error for a dimension name that is neither a default dimension nor `{name, value}`
 */
export function createTokenEmitter(entry: EmitterConfig, context: EmitterContext): TokenEmitter {
  const { registry, clock } = context;
  const labels = entry.dimensions.map(labelFor);
  const labelNames = labels.map((l) => l.name);
  const readers = labels.map((l) => l.read);
  const positions = new Map(labelNames.map((name, i) => [name, i]));
  const windowMs = entry.cardinalityWindow ?? DEFAULT_CARDINALITY_WINDOW_MS;
  const inScope = scopeMatcher(entry.scope);
  const overflowCells = new Map<string, Cell>();
  const tokens: Counter = new Counter({
    name: `${entry.namespace}_tokens_total`,
    help: 'Tokens metered by the gateway, by token type (prompt includes cached; completion includes reasoning).',
    labelNames: ['token_type', ...labelNames],
    registers: [registry],
    collect: () => flushCells(tokens, store.tokenCells),
  });
  const requests: Counter = new Counter({
    name: `${entry.namespace}_requests_total`,
    help: 'Calls metered by the gateway.',
    labelNames: [...labelNames, 'status_class', 'usage_source'],
    registers: [registry],
    collect: () => flushCells(requests, store.requestCells),
  });
  // Cost rides on the same labels (and guard) as the tokens: the dashboard's cost panels group
  // it like the token panels. Records without a price add nothing (their tokens still count).
  const cost: Counter = new Counter({
    name: `${entry.namespace}_cost_total`,
    help: 'Cost of the metered calls from the price catalog (pricing.currency, USD by default); calls of unpriced models add nothing.',
    labelNames,
    registers: [registry],
    collect: () => flushCells(cost, store.costCells),
  });
  const store = createSeriesStore({ labelNames, tokens, requests, cost, windowMs });
  const guard = createCardinalityGuard({
    maxDistinctValues: entry.maxValuesPerDimension ?? DEFAULT_MAX_DISTINCT_VALUES,
    windowMs,
    clock,
    onRelease: (name, value) => {
      const index = positions.get(name);
      if (index !== undefined) store.releaseValue(index, value);
    },
  });

  function overflowCell(label: string): Cell {
    let cell = overflowCells.get(label);
    if (cell === undefined) {
      cell = { labels: { namespace: entry.namespace, label }, pending: 0 };
      overflowCells.set(label, cell);
      context.overflowCells.add(cell);
    }
    return cell;
  }

  return {
    namespace: entry.namespace,
    get seriesCount() {
      return store.size;
    },
    heldValues: () => guard.heldCounts(),
    sweep() {
      const now = clock();
      guard.sweep(now);
      store.sweep(now);
    },
    observe(record, now) {
      if (!inScope(record)) return;
      const origin = {
        subscription: record.subscription,
        succeeded: record.status >= 200 && record.status < 300,
        at: now,
      };
      const values = labelNames.map((name, i) => {
        const value = guard.admit(name, readers[i]?.(record) ?? '', origin);
        if (value === OVERFLOW_VALUE) overflowCell(name).pending += 1;
        return value;
      });
      const series = store.get(values, now);
      series.request(`${Math.floor(record.status / 100)}xx`, record.source).pending += 1;
      for (const [tokenType, field] of TOKEN_TYPES) {
        const value = record[field];
        if (value !== undefined && value > 0) series.tokens(tokenType).pending += value;
      }
      if (record.cost !== undefined && record.cost > 0) {
        const cell = series.cost();
        if (cell !== undefined) cell.pending += record.cost;
      }
    },
  };
}
