import { canonicalDimensionKey } from '../dimensions/dimension-names.js';
import { TokenmeterError } from '../errors.js';
import type { DefaultDimensionKey } from '../ledger/record.js';
import { USAGE_FIELDS } from '../usage.js';

/** One `--where DIM=VALUE` condition. An empty value means "the dimension is absent". */
export interface UsageFilter {
  dim: string;
  value: string;
}

/**
 * A usage question, backend-neutral (SQLite now, PostgreSQL later). Dimension names are as the
 * user wrote them: canonical keys, APIM aliases or custom dimension names.
 */
export interface UsageQuery {
  /** Group by these dimensions, in this order; empty = one total row (per interval). */
  by: string[];
  /** Inclusive lower bound, epoch ms. */
  since?: number;
  /** Exclusive upper bound, epoch ms. */
  until?: number;
  /** Bucket width in ms (from `1h`, `1d`, `15m`); buckets are aligned to the Unix epoch (UTC). */
  interval?: number;
  /**
   * Conditions: values of one dimension are OR-ed, different dimensions AND-ed. The
   * pseudo-dimension `priced` (true / false) keeps the priced / unpriced records (see
   * UsageFigures); `custom.priced` reaches a custom dimension of that name.
   */
  where: UsageFilter[];
}

/** The `--where` pseudo-dimension that selects records by whether they have a price. */
export const PRICED_FILTER = 'priced';

/** The figures of a usage row, in output order (DESIGN.md, `--format json`). */
export const USAGE_FIGURES = [
  'requests',
  ...USAGE_FIELDS,
  'estimatedRequests',
  'partialRequests',
  'cost',
  'unpricedTokens',
  'unpricedRequests',
] as const;

export type UsageFigureKey = (typeof USAGE_FIGURES)[number];

/**
 * Sums over the records of a group. Token counts that were not reported count as 0 in a sum;
 * `cost` is null when no record of the group had a known price (an unknown cost is not free).
 * `cost` sums the priced records only: `unpricedRequests` counts the records with tokens but no
 * price (their model has none), `unpricedTokens` their total tokens, so a partly priced group
 * never passes for fully priced.
 */
export type UsageFigures = { [K in Exclude<UsageFigureKey, 'cost'>]: number } & { cost: number | null };

/** A dimension value in a row: null when the records of the group did not carry it. */
export type DimensionValue = string | boolean | null;

/**
 * One row of `tokenmeter usage --format json`: `time` (ISO start of the interval) when an
 * interval was asked for, one key per `--by` dimension (canonical key or custom name), then
 * the figures.
 */
export type UsageRow = UsageFigures & { time?: string } & {
  [dimension: string]: DimensionValue | number | undefined;
};

/** A dimension name resolved to where its value lives. `output` is the row key. */
export type ResolvedDimension =
  | { kind: 'default'; key: DefaultDimensionKey; output: string }
  | { kind: 'custom'; name: string; output: string };

/** A filter on one dimension: a record matches when its value is one of `values`. */
export interface ResolvedFilter {
  dimension: ResolvedDimension;
  /** null matches records without the dimension; booleans are for `stream`. */
  values: DimensionValue[];
}

/** A validated query, ready for a backend to turn into SQL with bound parameters. */
export interface ResolvedUsageQuery {
  by: ResolvedDimension[];
  since?: number;
  until?: number;
  interval?: number;
  where: ResolvedFilter[];
  /** Only priced (true) or only unpriced (false) records; absent: both. */
  priced?: boolean;
}

/**
 * Custom dimension names, as the config schema admits them. Custom names reach SQL as JSON paths;
 * besides being bound as parameters they must match this, so nothing can be smuggled in.
 */
export const CUSTOM_DIMENSION_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** Prefix that forces a name to be read as a custom dimension (`custom.model`). */
const CUSTOM_PREFIX = 'custom.';

const RESERVED_ROW_KEYS: ReadonlySet<string> = new Set(['time', ...USAGE_FIGURES]);

function badArgs(message: string): TokenmeterError {
  return new TokenmeterError('TM_USAGE_ARGS', message);
}

/**
 * Resolves a dimension name: a canonical key or APIM alias (case-insensitive) wins; anything else
 * must be a valid custom dimension name. `custom.NAME` reaches a custom dimension whose name
 * collides with a default one (its row key is then `custom.NAME`). Throws TokenmeterError TM_USAGE_ARGS on anything else.
 */
export function resolveDimension(name: string): ResolvedDimension {
  const trimmed = name.trim();
  const forced = trimmed.startsWith(CUSTOM_PREFIX);
  const key = forced ? undefined : canonicalDimensionKey(trimmed);
  if (key !== undefined) return { kind: 'default', key, output: key };
  const custom = forced ? trimmed.slice(CUSTOM_PREFIX.length) : trimmed;
  if (!CUSTOM_DIMENSION_NAME.test(custom)) {
    throw badArgs(
      `unknown dimension ${JSON.stringify(name)}: expected a default dimension (api, operation, product, ` +
        `user, subscription, ip, location, gateway, backend, model, responseModel, provider, stream), ` +
        `an APIM name such as "Subscription ID", or a custom dimension name (letters, digits, "_")`,
    );
  }
  // A forced name keeps its prefix as row key, so it cannot clash with the default dimension.
  return { kind: 'custom', name: custom, output: forced ? `${CUSTOM_PREFIX}${custom}` : custom };
}

/** Identity of a dimension regardless of how it was spelled. */
function dimensionId(d: ResolvedDimension): string {
  return d.kind === 'default' ? `default:${d.key}` : `custom:${d.name}`;
}

function parseFilterValue(dimension: ResolvedDimension, value: string): DimensionValue {
  if (value === '') return null;
  if (dimension.kind !== 'default' || dimension.key !== 'stream') return value;
  const lower = value.toLowerCase();
  if (lower === 'true' || lower === '1') return true;
  if (lower === 'false' || lower === '0') return false;
  throw badArgs(`invalid value ${JSON.stringify(value)} for stream: expected true or false`);
}

function checkTime(label: string, value: number | undefined): void {
  if (value !== undefined && !Number.isSafeInteger(value)) {
    throw badArgs(`${label} must be an integer number of milliseconds, got ${value}`);
  }
}

/**
 * Validates a query and resolves its dimension names. Duplicated `by` dimensions are merged;
 * a custom `by` dimension named like a figure or `time` is refused (the row key would clash).
 * Throws TokenmeterError TM_USAGE_ARGS.
 */
export function resolveUsageQuery(query: UsageQuery): ResolvedUsageQuery {
  checkTime('since', query.since);
  checkTime('until', query.until);
  checkTime('interval', query.interval);
  if (query.interval !== undefined && query.interval <= 0) throw badArgs('interval must be positive');
  if (query.since !== undefined && query.until !== undefined && query.since >= query.until) {
    throw badArgs(
      `since (${new Date(query.since).toISOString()}) must be before until (${new Date(query.until).toISOString()})`,
    );
  }

  const by: ResolvedDimension[] = [];
  for (const name of query.by) {
    const dimension = resolveDimension(name);
    if (dimension.kind === 'custom' && RESERVED_ROW_KEYS.has(dimension.output)) {
      throw badArgs(
        `cannot group by custom dimension "${dimension.output}" under that name, a row field has it: write custom.${dimension.name}`,
      );
    }
    if (!by.some((d) => dimensionId(d) === dimensionId(dimension))) by.push(dimension);
  }

  // Group conditions per dimension so that repeated --where on one dimension reads as "any of".
  const filters = new Map<string, ResolvedFilter>();
  const priced = new Set<boolean>();
  for (const { dim, value } of query.where) {
    if (dim.trim().toLowerCase() === PRICED_FILTER) {
      priced.add(parsePriced(value));
      continue;
    }
    const dimension = resolveDimension(dim);
    const id = dimensionId(dimension);
    const filter = filters.get(id) ?? { dimension, values: [] };
    filter.values.push(parseFilterValue(dimension, value));
    filters.set(id, filter);
  }

  return {
    by,
    ...(query.since !== undefined && { since: query.since }),
    ...(query.until !== undefined && { until: query.until }),
    ...(query.interval !== undefined && { interval: query.interval }),
    where: [...filters.values()],
    // priced=true and priced=false together ask for every record.
    ...(priced.size === 1 && { priced: priced.has(true) }),
  };
}

function parsePriced(value: string): boolean {
  const lower = value.trim().toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  throw badArgs(`invalid value ${JSON.stringify(value)} for ${PRICED_FILTER}: expected true or false`);
}

/** Rounds a cost sum to 6 decimals (a millionth of a dollar), hiding float summation noise. */
export function roundCost(cost: number | null): number | null {
  return cost === null ? null : Math.round(cost * 1e6) / 1e6;
}

function toCount(value: unknown): number {
  // SQLite returns numbers; PostgreSQL drivers return SUM(bigint) as a string.
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? n : 0;
}

/** A dimension value as a backend returned it, in row form (stream as a boolean, null when absent). */
export function toDimensionValue(dimension: ResolvedDimension, value: unknown): DimensionValue {
  if (value === null || value === undefined) return null;
  if (dimension.kind === 'default' && dimension.key === 'stream')
    return value === true || Number(value) === 1;
  if (typeof value === 'string') return value;
  // A custom dimension stored as a JSON number or object by some other writer: show it as JSON.
  return JSON.stringify(value);
}

/**
 * Builds a row from a backend's raw result. Backends alias their columns by convention:
 * `d0…dN` for the `by` dimensions, `bucket` for the interval start (epoch ms), and the figure
 * names for the figures.
 */
export function toUsageRow(query: ResolvedUsageQuery, raw: Readonly<Record<string, unknown>>): UsageRow {
  const row: Record<string, DimensionValue | number | undefined> = {};
  if (query.interval !== undefined) row['time'] = new Date(toCount(raw['bucket'])).toISOString();
  query.by.forEach((dimension, i) => {
    row[dimension.output] = toDimensionValue(dimension, raw[`d${i}`]);
  });
  for (const figure of USAGE_FIGURES) {
    row[figure] =
      figure === 'cost' ? roundCost(raw['cost'] == null ? null : toCount(raw['cost'])) : toCount(raw[figure]);
  }
  return row as UsageRow;
}

function compareValues(
  a: DimensionValue | number | undefined,
  b: DimensionValue | number | undefined,
): number {
  if (a === b) return 0;
  // Absent values first, then false before true, then strings by code unit: the same order on
  // every backend and every machine (no locale, no collation).
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  if (typeof a === 'boolean' && typeof b === 'boolean') return a ? 1 : -1;
  return String(a) < String(b) ? -1 : 1;
}

/** Sorts rows by time, then by the `by` dimensions in order. Group keys are unique, so this is total. */
export function sortUsageRows(query: ResolvedUsageQuery, rows: UsageRow[]): UsageRow[] {
  const keys = [...(query.interval !== undefined ? ['time'] : []), ...query.by.map((d) => d.output)];
  return rows.sort((x, y) => {
    for (const key of keys) {
      const order = compareValues(x[key], y[key]);
      if (order !== 0) return order;
    }
    return 0;
  });
}
