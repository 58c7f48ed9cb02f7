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
 * and tuple of the low-cardinality dimensions (all but `user` and `ip`, no custom) and unpriced;
 * `usage_rollup_core_hour` the same tuples per UTC hour, for the hours a query on those
 * dimensions cannot read from days (the partial days at the ends of a range, hourly intervals):
 * the full hour rows multiply with users, addresses and custom values, these do not.
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
 *
 * `usage_rollup_pending` marks the hours whose rollup rows may be wrong (rollup-deltas.ts): an
 * owner, a connection, has committed records of that hour whose figures it holds in memory
 * and has not yet added to the rollups; owner '' (never registered) marks an hour to rebuild
 * from raw records. `usage_rollup_owners` holds each owner's last heartbeat: an owner whose
 * heartbeat is older than the lease is dead (a killed process) and its marks are stale.
 * `usage_custom_names` lists the custom dimension names of the records (custom-name-index.ts).
 */
export const ROLLUP_MIGRATION = `${tableSql('usage_rollup_hour', [...HOUR_COLUMNS, 'custom'])}
   ${tableSql('usage_rollup_core_hour', DAY_COLUMNS)}
   ${tableSql('usage_rollup_day', DAY_COLUMNS)}
   CREATE TABLE usage_rollup_state (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     complete INTEGER NOT NULL,
     built_through INTEGER,
     build_end INTEGER
   );
   INSERT INTO usage_rollup_state (id, complete)
     SELECT 1, NOT EXISTS (SELECT 1 FROM usage_records);
   CREATE TABLE usage_rollup_pending (
     hour INTEGER NOT NULL,
     owner TEXT NOT NULL,
     PRIMARY KEY (hour, owner)
   ) WITHOUT ROWID;
   CREATE TABLE usage_rollup_owners (
     owner TEXT PRIMARY KEY,
     heartbeat INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE usage_custom_names (name TEXT PRIMARY KEY) WITHOUT ROWID;`;

function upsertSql(table: string, columns: readonly string[]): string {
  const all = ['bucket', 'key', ...columns, 'unpriced', ...ROLLUP_FIGURES];
  return `INSERT INTO ${table} (${all.join(', ')}) VALUES (${all.map(() => '?').join(', ')})
    ON CONFLICT (bucket, key) DO UPDATE SET
    ${ROLLUP_FIGURES.map((f) => `${f} = ${f} + excluded.${f}`).join(', ')}`;
}

function updateSql(table: string): string {
  return `UPDATE ${table} SET ${ROLLUP_FIGURES.map((f) => `${f} = ${f} + ?`).join(', ')}
    WHERE bucket = ? AND key = ?`;
}

/**
 * Adds figures to an existing row (parameters: ROLLUP_FIGURES, bucket, key). Tried before the
 * upsert: most records of an hour meet a row that exists, and this binds 15 values, not 30
 * (measured ~30% less per record than the upsert alone on repeated keys).
 */
export const UPDATE_HOUR_SQL = updateSql('usage_rollup_hour');
export const UPDATE_DAY_SQL = updateSql('usage_rollup_day');
export const UPDATE_CORE_HOUR_SQL = updateSql('usage_rollup_core_hour');

/** Adds one aggregate to an hour row (parameters: RollupAccumulator.rows of the hours). */
export const UPSERT_HOUR_SQL = upsertSql('usage_rollup_hour', [...HOUR_COLUMNS, 'custom']);
/** Adds one aggregate to a day row. */
export const UPSERT_DAY_SQL = upsertSql('usage_rollup_day', DAY_COLUMNS);
/** Adds one aggregate to a core hour row. */
export const UPSERT_CORE_HOUR_SQL = upsertSql('usage_rollup_core_hour', DAY_COLUMNS);

/**
 * Replaces the core hour rows of [@from, @to) (hour-aligned) by the projection of the hour rows
 * there: they are always that projection (flushes add the same sums to both). Run after
 * deleting those rows and after the hour rows are final, in the same transaction.
 */
export const REBUILD_CORE_HOURS_SQL = `INSERT INTO usage_rollup_core_hour
    (bucket, key, ${DAY_COLUMNS.join(', ')}, unpriced, ${ROLLUP_FIGURES.join(', ')})
  SELECT bucket, json_array(${DAY_COLUMNS.join(', ')}, unpriced), ${DAY_COLUMNS.join(', ')}, unpriced,
    ${ROLLUP_FIGURES.map((f) => `SUM(${f})`).join(', ')}
  FROM usage_rollup_hour WHERE bucket >= @from AND bucket < @to
  GROUP BY bucket, ${DAY_COLUMNS.join(', ')}, unpriced`;

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

/**
 * Adds (@sign 1) or subtracts (@sign -1) the day projection of the hour rows of [@from, @to)
 * (hour-aligned, within one day) to the day rows. Run around the rebuild of those hours, so that
 * the day rows stay the sum of their hour rows whatever other owners have added to both.
 */
export const ADJUST_DAY_SQL = `INSERT INTO usage_rollup_day
    (bucket, key, ${DAY_COLUMNS.join(', ')}, unpriced, ${ROLLUP_FIGURES.join(', ')})
  SELECT b, json_array(${DAY_COLUMNS.join(', ')}, unpriced), ${DAY_COLUMNS.join(', ')}, unpriced,
    ${ROLLUP_FIGURES.map((f) => `@sign * SUM(${f})`).join(', ')}
  FROM (SELECT *, (bucket / ${DAY_MS}) * ${DAY_MS} AS b FROM usage_rollup_hour
        WHERE bucket >= @from AND bucket < @to)
  WHERE true
  GROUP BY b, ${DAY_COLUMNS.join(', ')}, unpriced
  ON CONFLICT (bucket, key) DO UPDATE SET
    ${ROLLUP_FIGURES.map((f) => `${f} = ${f} + excluded.${f}`).join(', ')}`;

/** The rollup tables' key of a tuple (rollupKey in SQL): its JSON array, as json_array writes it. */
export const rollupKey = (head: readonly SqlValue[]): string => JSON.stringify(head);
