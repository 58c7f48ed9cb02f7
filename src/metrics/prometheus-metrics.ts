import { Counter, Gauge, Registry } from 'prom-client';
import type { TokenMetricConfig } from '../config/schema.js';
import {
  createCardinalityGuard,
  OVERFLOW_VALUE,
  type CardinalityGuardOptions,
} from '../dimensions/cardinality-guard.js';
import { canonicalDimensionKey } from '../dimensions/dimension-names.js';
import { capLabelValue } from '../dimensions/value-cap.js';
import type { UsageRecord } from '../ledger/record.js';
import type { RecordObserver } from '../gateway/record-sink.js';
import { createRecordFlagCounters } from './record-flag-counters.js';

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

/** When no tokenMetrics entry is configured, this one is used. */
export const DEFAULT_TOKEN_METRICS: EmitterConfig[] = [
  { namespace: 'tokenmeter', dimensions: ['api', 'operation', 'subscription', 'model', 'backend'] },
];

type LabelReader = (record: UsageRecord) => string;

interface Instrument {
  tokens: Counter;
  requests: Counter;
  readers: LabelReader[];
  labelNames: string[];
  /** The cells of each label-value combination seen. */
  series: Map<string, Series>;
  /** Every cell of each counter, handed to prom-client at each scrape. */
  tokenCells: Cell[];
  requestCells: Cell[];
}

/**
 * One bound counter and what was counted into it since the last scrape. Calls only add to
 * `pending`; prom-client (which validates and hashes labels on every `inc`, bound or not) is
 * told once per series and scrape, in the counter's `collect`.
 */
interface Cell {
  child: { inc(value: number): void };
  pending: number;
}

/** The cells of one combination of dimension values. */
interface Series {
  tokens(tokenType: string): Cell;
  request(statusClass: string, source: string): Cell;
}

/** Hands the pending counts to prom-client; runs before each exposition. */
function flushCells(cells: readonly Cell[]): void {
  for (const cell of cells) {
    if (cell.pending === 0) continue;
    cell.child.inc(cell.pending);
    cell.pending = 0;
  }
}

/** The cells of one label-value combination, created on first use. */
function seriesFor(instrument: Instrument, values: string[]): Series {
  const key = values.join('\u0000');
  let series = instrument.series.get(key);
  if (series !== undefined) return series;
  const labels: Record<string, string> = {};
  instrument.labelNames.forEach((name, i) => (labels[name] = values[i] ?? ''));
  const tokens = new Map<string, Cell>();
  const requests = new Map<string, Cell>();
  series = {
    tokens(tokenType) {
      let cell = tokens.get(tokenType);
      if (cell === undefined) {
        cell = { child: instrument.tokens.labels({ ...labels, token_type: tokenType }), pending: 0 };
        tokens.set(tokenType, cell);
        instrument.tokenCells.push(cell);
      }
      return cell;
    },
    request(statusClass, source) {
      const k = `${statusClass}/${source}`;
      let cell = requests.get(k);
      if (cell === undefined) {
        const child = instrument.requests.labels({
          ...labels,
          status_class: statusClass,
          usage_source: source,
        });
        cell = { child, pending: 0 };
        requests.set(k, cell);
        instrument.requestCells.push(cell);
      }
      return cell;
    },
  };
  instrument.series.set(key, series);
  return series;
}

/** Prometheus exposition of the token metrics; each tokenMetrics entry is one pair of counters. */
export interface PrometheusMetrics extends RecordObserver {
  readonly registry: Registry;
  /** The exposition text for GET /metrics. */
  render(): Promise<string>;
  /** Exposes an internal figure, read at each scrape (e.g. ledger append failures). */
  addInternalGauge(name: string, help: string, read: () => number): void;
  readonly contentType: string;
}

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

/**
 * Label values are capped to 128 characters (`…[+N chars]` marks a cut) and then pass a
 * cardinality guard (see createCardinalityGuard: default 1000 distinct values per label, per
 * subscription for client-controlled labels; calls that did not succeed add no new value; the
 * others become `__other__`, counted in `tokenmeter_metric_label_overflow_total{label}`), so a
 * runaway dimension such as `model`, `user` or `ip` cannot blow up the scrape. The ledger keeps
 * the values up to 1024 characters.
 */
export function createPrometheusMetrics(
  entries: readonly EmitterConfig[],
  guardOptions: CardinalityGuardOptions = {},
): PrometheusMetrics {
  const registry = new Registry();
  const guard = createCardinalityGuard(guardOptions);
  const overflow = new Counter({
    name: 'tokenmeter_metric_label_overflow_total',
    help: 'Label values folded into __other__ by the cardinality guard.',
    labelNames: ['label'],
    registers: [registry],
  });
  const flagCounters = createRecordFlagCounters(registry);
  const instruments: Instrument[] = (entries.length > 0 ? entries : DEFAULT_TOKEN_METRICS).map((entry) => {
    const labels = entry.dimensions.map(labelFor);
    const labelNames = labels.map((l) => l.name);
    const tokenCells: Cell[] = [];
    const requestCells: Cell[] = [];
    return {
      labelNames,
      readers: labels.map((l) => l.read),
      series: new Map(),
      tokenCells,
      requestCells,
      tokens: new Counter({
        name: `${entry.namespace}_tokens_total`,
        help: 'Tokens metered by the gateway, by token type (prompt includes cached; completion includes reasoning).',
        labelNames: ['token_type', ...labelNames],
        registers: [registry],
        collect: () => flushCells(tokenCells),
      }),
      requests: new Counter({
        name: `${entry.namespace}_requests_total`,
        help: 'Calls metered by the gateway.',
        labelNames: [...labelNames, 'status_class', 'usage_source'],
        registers: [registry],
        collect: () => flushCells(requestCells),
      }),
    };
  });

  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
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
      const origin = {
        subscription: record.subscription,
        succeeded: record.status >= 200 && record.status < 300,
      };
      for (const instrument of instruments) {
        const values = instrument.labelNames.map((name, i) => {
          const value = guard.admit(name, instrument.readers[i]?.(record) ?? '', origin);
          if (value === OVERFLOW_VALUE) overflow.inc({ label: name });
          return value;
        });
        const series = seriesFor(instrument, values);
        series.request(`${Math.floor(record.status / 100)}xx`, record.source).pending += 1;
        for (const [tokenType, field] of TOKEN_TYPES) {
          const value = record[field];
          if (value !== undefined && value > 0) series.tokens(tokenType).pending += value;
        }
      }
    },
  };
}
