import { USAGE_FIELDS } from '../usage.js';
import {
  DAY_DIMENSIONS,
  DAY_MS,
  HOUR_DIMENSIONS,
  HOUR_MS,
  ROLLUP_FIGURES,
  rollupKey,
} from './rollup-schema.js';
import type { SqlValue } from './sqlite-usage-sql.js';

const PROMPT_TOKENS = USAGE_FIELDS.indexOf('promptTokens');
const COMPLETION_TOKENS = USAGE_FIELDS.indexOf('completionTokens');
const TOTAL_TOKENS = USAGE_FIELDS.indexOf('totalTokens');
const FIGURES = ROLLUP_FIGURES.length;
const DAY_INDEXES = DAY_DIMENSIONS.map((key) => HOUR_DIMENSIONS.indexOf(key));

/** Where the dimension values, custom text, tokens and cost sit in a record's insert parameters. */
export interface InsertLayout {
  time: number;
  firstDimension: number;
  custom: number;
  firstToken: number;
  source: number;
  cost: number;
}

/** A rollup row being summed in memory: its bucket, tuple (dimension values, …, unpriced), figures. */
export interface Aggregate {
  bucket: number;
  head: SqlValue[];
  figures: number[];
}

/** A tree of Maps keyed by one tuple value per level (Map keys compare exactly: no encoding). */
type Trie = Map<SqlValue, unknown>;

/** Aggregates by bucket start, as a trie per bucket for summing and a list for writing. */
export class AggregateMap {
  readonly buckets = new Map<number, Trie>();
  readonly list: Aggregate[] = [];

  /** The trie of `bucket`'s aggregates. */
  trie(bucket: number): Trie {
    let trie = this.buckets.get(bucket);
    if (trie === undefined) {
      trie = new Map();
      this.buckets.set(bucket, trie);
    }
    return trie;
  }

  clear(): void {
    this.buckets.clear();
    this.list.length = 0;
  }
}

/** The child of `node` at `value`, created when missing. */
function child(node: Trie, value: SqlValue): Trie {
  let next = node.get(value) as Trie | undefined;
  if (next === undefined) {
    next = new Map();
    node.set(value, next);
  }
  return next;
}

/** Adds `figures` to the aggregate at the leaf `last` of `node`, creating it with `head`. */
function sumAt(
  map: AggregateMap,
  bucket: number,
  node: Trie,
  last: SqlValue,
  head: (() => SqlValue[]) | SqlValue[],
  figures: readonly number[],
): void {
  const found = node.get(last) as Aggregate | undefined;
  if (found === undefined) {
    const created = { bucket, head: typeof head === 'function' ? head() : head, figures: figures.slice() };
    node.set(last, created);
    map.list.push(created);
    return;
  }
  const sums = found.figures;
  for (let i = 0; i < FIGURES; i += 1) sums[i] = (sums[i] ?? 0) + (figures[i] ?? 0);
}

/**
 * The figures of stored records not yet added to the rollup tables, summed in memory per hour
 * and full tuple and per UTC day and day tuple. Reads a record's values from its insert
 * parameters, so the rollups see exactly what was stored; day deltas are derived when written.
 */
export class RollupDeltas {
  readonly hours = new AggregateMap();
  private readonly scratch = new Array<number>(FIGURES).fill(0);

  constructor(private readonly layout: InsertLayout) {}

  /**
   * Adds one stored record, given as its insert parameters; returns its hour's start. Runs for
   * every record written: plain loops, no key string, no JSON.
   */
  add(params: readonly SqlValue[]): number {
    const l = this.layout;
    const time = Number(params[l.time]);
    const figures = this.scratch;
    figures[0] = 1;
    for (let i = 0; i < USAGE_FIELDS.length; i += 1) {
      const t = params[l.firstToken + i];
      figures[1 + i] = typeof t === 'number' ? t : 0;
    }
    const total = params[l.firstToken + TOTAL_TOKENS];
    const recordTokens =
      typeof total === 'number'
        ? total
        : Number(params[l.firstToken + PROMPT_TOKENS] ?? 0) +
          Number(params[l.firstToken + COMPLETION_TOKENS] ?? 0);
    const cost = params[l.cost];
    const unpriced = cost === null && recordTokens > 0 ? 1 : 0;
    const source = params[l.source];
    let f = 1 + USAGE_FIELDS.length;
    figures[f++] = source === 'estimated' ? 1 : 0;
    figures[f++] = source === 'partial' ? 1 : 0;
    figures[f++] = typeof cost === 'number' ? cost : 0;
    figures[f++] = typeof cost === 'number' ? 1 : 0;
    figures[f++] = unpriced === 1 ? recordTokens : 0;
    figures[f] = unpriced;
    // One Map lookup per tuple value: cheaper than building and hashing a key string. The
    // day deltas are derived from the hour deltas when they are written, not here.
    const hour = Math.floor(time / HOUR_MS) * HOUR_MS;
    let node = this.hours.trie(hour);
    for (let i = 0; i < HOUR_DIMENSIONS.length; i += 1)
      node = child(node, params[l.firstDimension + i] ?? null);
    node = child(node, params[l.custom] ?? '{}');
    const found = node.get(unpriced) as Aggregate | undefined;
    if (found === undefined)
      sumAt(this.hours, hour, node, unpriced, this.hourHead(params, unpriced), figures);
    else for (let i = 0; i < FIGURES; i += 1) found.figures[i] = (found.figures[i] ?? 0) + (figures[i] ?? 0);
    return hour;
  }

  /** How many aggregates are held (hour and day). */
  get size(): number {
    return this.hours.list.length;
  }

  /** Forgets every delta (once written, or for a test that simulates a crash). */
  clear(): void {
    this.hours.clear();
  }

  private hourHead(params: readonly SqlValue[], unpriced: number): SqlValue[] {
    const l = this.layout;
    const head = new Array<SqlValue>(HOUR_DIMENSIONS.length + 2);
    for (let i = 0; i < HOUR_DIMENSIONS.length; i += 1) head[i] = params[l.firstDimension + i] ?? null;
    head[HOUR_DIMENSIONS.length] = params[l.custom] ?? '{}';
    head[HOUR_DIMENSIONS.length + 1] = unpriced;
    return head;
  }

  /** The day deltas: the hour deltas summed per UTC day and day tuple. */
  days(): AggregateMap {
    return this.project((hour) => Math.floor(hour / DAY_MS) * DAY_MS);
  }

  /** The core hour deltas: the hour deltas summed per hour and day tuple. */
  coreHours(): AggregateMap {
    return this.project((hour) => hour);
  }

  /** The hour deltas summed per `bucketOf(hour)` and day tuple (the low-cardinality dimensions). */
  private project(bucketOf: (hour: number) => number): AggregateMap {
    const out = new AggregateMap();
    for (const a of this.hours.list) {
      const bucket = bucketOf(a.bucket);
      let node = out.trie(bucket);
      for (const index of DAY_INDEXES) node = child(node, a.head[index] ?? null);
      const unpriced = a.head[HOUR_DIMENSIONS.length + 1] ?? 0;
      const head = (): SqlValue[] => [...DAY_INDEXES.map((index) => a.head[index] ?? null), unpriced];
      sumAt(out, bucket, node, unpriced, head, a.figures);
    }
    return out;
  }

  /**
   * Writes each aggregate of `map`: `update` (UPDATE_*_SQL parameters: figures, bucket, key)
   * and, when that changed no row, `upsert` (UPSERT_*_SQL parameters: bucket, key, head,
   * figures). The key is the tuple's JSON array, as SQLite's json_array writes it.
   */
  static write(
    map: AggregateMap,
    update: (params: SqlValue[]) => number,
    upsert: (params: SqlValue[]) => void,
  ): void {
    for (const a of map.list) {
      const key = rollupKey(a.head);
      if (update([...a.figures, a.bucket, key]) === 0) upsert([a.bucket, key, ...a.head, ...a.figures]);
    }
  }
}
