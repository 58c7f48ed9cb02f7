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
const IN_DAY = new Set(DAY_INDEXES);

/** Where the dimension values, custom text, tokens and cost sit in a record's insert parameters. */
export interface InsertLayout {
  time: number;
  firstDimension: number;
  custom: number;
  firstToken: number;
  source: number;
  cost: number;
}

/** A rollup row being summed in memory: its tuple (dimension values, …, unpriced), its figures. */
export interface Aggregate {
  head: SqlValue[];
  figures: number[];
}

/** Aggregates by bucket start, then by an in-memory key of their tuple. */
export type AggregateMap = Map<number, Map<string, Aggregate>>;

/** One value's part of an in-memory key: length-prefixed, so no value can fake a boundary. */
function keyPart(value: SqlValue | undefined): string {
  if (value === null || value === undefined) return '~';
  if (typeof value === 'string') return `${value.length}:${value}`;
  return `#${String(value)};`;
}

function sumInto(
  map: AggregateMap,
  bucket: number,
  key: string,
  head: () => SqlValue[],
  figures: number[],
): void {
  let inBucket = map.get(bucket);
  if (inBucket === undefined) {
    inBucket = new Map();
    map.set(bucket, inBucket);
  }
  const found = inBucket.get(key);
  if (found === undefined) {
    inBucket.set(key, { head: head(), figures: figures.slice() });
    return;
  }
  const sums = found.figures;
  for (let i = 0; i < FIGURES; i += 1) sums[i] = (sums[i] ?? 0) + (figures[i] ?? 0);
}

/**
 * The figures of stored records not yet added to the rollup tables, summed in memory per hour
 * and full tuple and per UTC day and day tuple. Reads a record's values from its insert
 * parameters, so the rollups see exactly what was stored.
 */
export class RollupDeltas {
  readonly hours: AggregateMap = new Map();
  readonly days: AggregateMap = new Map();
  /** How many aggregates are held (hour and day). */
  size = 0;
  private readonly scratch = new Array<number>(FIGURES).fill(0);

  constructor(private readonly layout: InsertLayout) {}

  /**
   * Adds one stored record, given as its insert parameters; returns its hour's start. Runs for
   * every record written: plain loops, one key string per rollup, no JSON.
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
    let hourKey = '';
    let dayKey = '';
    for (let i = 0; i < HOUR_DIMENSIONS.length; i += 1) {
      const part = keyPart(params[l.firstDimension + i]);
      hourKey += part;
      if (IN_DAY.has(i)) dayKey += part;
    }
    hourKey += keyPart(params[l.custom]) + String(unpriced);
    dayKey += String(unpriced);
    const hour = Math.floor(time / HOUR_MS) * HOUR_MS;
    const before = this.hours.get(hour)?.size ?? 0;
    sumInto(this.hours, hour, hourKey, () => this.hourHead(params, unpriced), figures);
    const day = Math.floor(time / DAY_MS) * DAY_MS;
    const beforeDay = this.days.get(day)?.size ?? 0;
    sumInto(this.days, day, dayKey, () => this.dayHead(params, unpriced), figures);
    this.size += (this.hours.get(hour)?.size ?? 0) - before + (this.days.get(day)?.size ?? 0) - beforeDay;
    return hour;
  }

  /** Forgets every delta (once written, or for a test that simulates a crash). */
  clear(): void {
    this.hours.clear();
    this.days.clear();
    this.size = 0;
  }

  private hourHead(params: readonly SqlValue[], unpriced: number): SqlValue[] {
    const l = this.layout;
    const head = new Array<SqlValue>(HOUR_DIMENSIONS.length + 2);
    for (let i = 0; i < HOUR_DIMENSIONS.length; i += 1) head[i] = params[l.firstDimension + i] ?? null;
    head[HOUR_DIMENSIONS.length] = params[l.custom] ?? '{}';
    head[HOUR_DIMENSIONS.length + 1] = unpriced;
    return head;
  }

  private dayHead(params: readonly SqlValue[], unpriced: number): SqlValue[] {
    const head = DAY_INDEXES.map((index) => params[this.layout.firstDimension + index] ?? null);
    head.push(unpriced);
    return head;
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
    for (const [bucket, inBucket] of map) {
      for (const a of inBucket.values()) {
        const key = rollupKey(a.head);
        if (update([...a.figures, bucket, key]) === 0) upsert([bucket, key, ...a.head, ...a.figures]);
      }
    }
  }
}
