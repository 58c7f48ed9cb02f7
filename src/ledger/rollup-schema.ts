import {
  DIMENSION_COLUMNS,
  RECORD_TOKENS,
  TOKEN_COLUMNS,
  UNPRICED_SQL,
  type SqlValue,
} from './sqlite-usage-sql.js';
import { USAGE_FIELDS } from '../usage.js';
import type { DefaultDimensionKey } from './record.js';

/**
 * The rollup tables of the SQLite ledger (schema migration 7) and the SQL that fills them.
 *
 * `usage_rollup_hour` holds one row per UTC hour and distinct tuple of (every default
 * dimension, the custom JSON text as stored, unpriced); `usage_rollup_day` one row per UTC day
 * and tuple of the low-cardinality dimensions (all but `user` and `ip`, no custom) and unpriced.
 * The dimension columns are nullable and a WITHOUT ROWID key cannot hold NULL, so rows are keyed
 * by (bucket, key) where `key` is the JSON array of the tuple, computed identically in JS
 * (rollupKey) and in SQL (json_array): rows built from raw records at open and rows upserted by
 * the write path meet on the same key.
 */

/** One hour / one UTC day in epoch milliseconds. */
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** The default dimensions the hour rollup keeps, in DIMENSION_COLUMNS order. */
export const HOUR_DIMENSIONS = Object.keys(DIMENSION_COLUMNS) as DefaultDimensionKey[];

/** Dimensions too fine-grained for the day rollup: a query on them reads hours (or raw). */
export const HOUR_ONLY_DIMENSIONS: ReadonlySet<DefaultDimensionKey> = new Set(['user', 'ip']);

/** The default dimensions the day rollup keeps. */
export const DAY_DIMENSIONS = HOUR_DIMENSIONS.filter((key) => !HOUR_ONLY_DIMENSIONS.has(key));

/**
 * The figures of a rollup row, in storage order. Sums of NULL token counts count 0;
 * `cost_sum` is the sum of the non-NULL costs and `priced_requests` how many there were, so a
 * group whose records have no cost reads back as NULL (as SUM(cost) does on raw records).
 */
export const ROLLUP_FIGURES = [
  'requests',
  ...USAGE_FIELDS.map((key) => TOKEN_COLUMNS[key]),
  'estimated_requests',
  'partial_requests',
  'cost_sum',
  'priced_requests',
  'unpriced_tokens',
  'unpriced_requests',
] as const;

const HOUR_COLUMNS = HOUR_DIMENSIONS.map((key) => DIMENSION_COLUMNS[key]);
const DAY_COLUMNS = DAY_DIMENSIONS.map((key) => DIMENSION_COLUMNS[key]);

function tableSql(name: string, columns: readonly string[]): string {
  return `CREATE TABLE ${name} (
     bucket INTEGER NOT NULL,
     key TEXT NOT NULL,
     ${columns.map((c) => `${c} ${c === 'stream' ? 'INTEGER' : 'TEXT'}`).join(', ')},
     unpriced INTEGER NOT NULL,
     ${ROLLUP_FIGURES.map((f) => `${f} ${f === 'cost_sum' ? 'REAL' : 'INTEGER'} NOT NULL`).join(', ')},
     PRIMARY KEY (bucket, key)
   ) WITHOUT ROWID;`;
}

/**
 * Migration 7, frozen once released. The state row says whether the rollups cover every record
 * (`complete`); when not, `built_through` is the start of the next UTC day to build and
 * `build_end` the end of the build (both NULL until a build starts). A ledger without records
 * starts complete.
 */
export const ROLLUP_MIGRATION = `${tableSql('usage_rollup_hour', [...HOUR_COLUMNS, 'custom'])}
   ${tableSql('usage_rollup_day', DAY_COLUMNS)}
   CREATE TABLE usage_rollup_state (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     complete INTEGER NOT NULL,
     built_through INTEGER,
     build_end INTEGER
   );
   INSERT INTO usage_rollup_state (id, complete)
     SELECT 1, NOT EXISTS (SELECT 1 FROM usage_records);`;

function upsertSql(table: string, columns: readonly string[]): string {
  const all = ['bucket', 'key', ...columns, 'unpriced', ...ROLLUP_FIGURES];
  return `INSERT INTO ${table} (${all.join(', ')}) VALUES (${all.map(() => '?').join(', ')})
    ON CONFLICT (bucket, key) DO UPDATE SET
    ${ROLLUP_FIGURES.map((f) => `${f} = ${f} + excluded.${f}`).join(', ')}`;
}

/** Adds one aggregate to an hour row (parameters: rollupRowParams of an hour aggregate). */
export const UPSERT_HOUR_SQL = upsertSql('usage_rollup_hour', [...HOUR_COLUMNS, 'custom']);
/** Adds one aggregate to a day row. */
export const UPSERT_DAY_SQL = upsertSql('usage_rollup_day', DAY_COLUMNS);

/**
 * Replaces the hour rows of [@from, @to) (hour-aligned) by the aggregate of the raw records
 * there. Run after deleting those rows, in the same transaction.
 */
export const REBUILD_HOURS_SQL = `INSERT INTO usage_rollup_hour
    (bucket, key, ${HOUR_COLUMNS.join(', ')}, custom, unpriced, ${ROLLUP_FIGURES.join(', ')})
  SELECT b, json_array(${HOUR_COLUMNS.join(', ')}, custom, u), ${HOUR_COLUMNS.join(', ')}, custom, u,
    COUNT(*), ${USAGE_FIELDS.map((k) => `COALESCE(SUM(${TOKEN_COLUMNS[k]}), 0)`).join(', ')},
    COALESCE(SUM(source = 'estimated'), 0), COALESCE(SUM(source = 'partial'), 0),
    TOTAL(cost), COUNT(cost),
    COALESCE(SUM(CASE WHEN u THEN ${RECORD_TOKENS} ELSE 0 END), 0), COALESCE(SUM(u), 0)
  FROM (SELECT *, (time / ${HOUR_MS}) * ${HOUR_MS} AS b, ${UNPRICED_SQL} AS u FROM usage_records
        WHERE time >= @from AND time < @to)
  GROUP BY b, ${HOUR_COLUMNS.join(', ')}, custom, u`;

/** Replaces the day rows of [@from, @to) (day-aligned) by the sum of their hour rows. */
export const REBUILD_DAYS_SQL = `INSERT INTO usage_rollup_day
    (bucket, key, ${DAY_COLUMNS.join(', ')}, unpriced, ${ROLLUP_FIGURES.join(', ')})
  SELECT b, json_array(${DAY_COLUMNS.join(', ')}, unpriced), ${DAY_COLUMNS.join(', ')}, unpriced,
    ${ROLLUP_FIGURES.map((f) => `SUM(${f})`).join(', ')}
  FROM (SELECT *, (bucket / ${DAY_MS}) * ${DAY_MS} AS b FROM usage_rollup_hour
        WHERE bucket >= @from AND bucket < @to)
  GROUP BY b, ${DAY_COLUMNS.join(', ')}, unpriced`;

/** Where the dimension values, custom text, tokens and cost sit in a record's insert parameters. */
export interface InsertLayout {
  time: number;
  firstDimension: number;
  custom: number;
  firstToken: number;
  source: number;
  cost: number;
}

/** An aggregate being summed in JS: the row's identity, then ROLLUP_FIGURES in order. */
interface Aggregate {
  head: SqlValue[];
  figures: number[];
}

/**
 * Sums records into hour and day aggregates, in JS, for one write batch. Reads a record's
 * values from its insert parameters, so the rollups see exactly what was stored.
 */
export class RollupAccumulator {
  readonly hours = new Map<string, Aggregate>();
  readonly days = new Map<string, Aggregate>();
  private readonly dayIndexes = DAY_DIMENSIONS.map((key) => HOUR_DIMENSIONS.indexOf(key));

  constructor(private readonly layout: InsertLayout) {}

  /** Adds one stored record, given as its insert parameters. */
  add(params: readonly SqlValue[]): void {
    const l = this.layout;
    const time = Number(params[l.time]);
    const dims = params.slice(l.firstDimension, l.firstDimension + HOUR_DIMENSIONS.length);
    const tokens = USAGE_FIELDS.map((_, i) => params[l.firstToken + i]);
    const [prompt, completion, total] = tokens;
    const recordTokens = typeof total === 'number' ? total : Number(prompt ?? 0) + Number(completion ?? 0);
    const cost = params[l.cost];
    const unpriced = cost === null && recordTokens > 0 ? 1 : 0;
    const source = params[l.source];
    const figures = [
      1,
      ...tokens.map((t) => (typeof t === 'number' ? t : 0)),
      source === 'estimated' ? 1 : 0,
      source === 'partial' ? 1 : 0,
      typeof cost === 'number' ? cost : 0,
      typeof cost === 'number' ? 1 : 0,
      unpriced === 1 ? recordTokens : 0,
      unpriced,
    ];
    const hourHead = [...dims, params[l.custom] ?? '{}', unpriced];
    const dayHead = [...this.dayIndexes.map((i) => dims[i] ?? null), unpriced];
    sumInto(this.hours, Math.floor(time / HOUR_MS) * HOUR_MS, hourHead, figures);
    sumInto(this.days, Math.floor(time / DAY_MS) * DAY_MS, dayHead, figures);
  }

  /** The upsert parameters of each aggregate (UPSERT_HOUR_SQL / UPSERT_DAY_SQL). */
  static rows(aggregates: Map<string, Aggregate>): SqlValue[][] {
    return [...aggregates.values()].map((a) => [...a.head, ...a.figures]);
  }
}

function sumInto(map: Map<string, Aggregate>, bucket: number, head: SqlValue[], figures: number[]): void {
  // The key is the tuple's JSON array, as SQLite's json_array writes it (no spaces).
  const key = JSON.stringify(head);
  const id = `${bucket}|${key}`;
  const found = map.get(id);
  if (found === undefined) {
    // A copy: the same figures start an hour and a day aggregate.
    map.set(id, { head: [bucket, key, ...head], figures: [...figures] });
    return;
  }
  figures.forEach((value, i) => (found.figures[i] = (found.figures[i] ?? 0) + value));
}
