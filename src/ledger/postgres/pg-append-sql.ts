import { USAGE_FIELDS } from '../../usage.js';
import type { UsageRecord } from '../record.js';
import { DAY_DIMENSIONS, DAY_MS, HOUR_DIMENSIONS, HOUR_MS, ROLLUP_FIGURES } from '../rollup-schema.js';
import { DIMENSION_COLUMNS, TOKEN_COLUMNS } from '../sqlite-usage-sql.js';
import { toParams } from '../sqlite-record-row.js';
import { PG_RECORD_TOKENS, PG_UNPRICED } from './pg-usage-sql.js';

/**
 * The statement that stores a batch of records and adds them to the rollups, in one round trip
 * and one transaction: the records arrive as one array per column (`unnest`), are inserted with
 * `ON CONFLICT DO NOTHING`, and only the rows actually inserted (RETURNING) are summed into the
 * hour, core hour and day rollups and the custom names. A batch shipped twice adds nothing the
 * second time, so the rollups are always exact.
 *
 * Upserts go in key order (ORDER BY the rollup key): two gateways adding to the same rows lock
 * them in the same order, which keeps deadlocks rare; the ledger retries the ones left.
 */

const HOUR_COLUMNS = HOUR_DIMENSIONS.map((key) => DIMENSION_COLUMNS[key]);
const DAY_COLUMNS = DAY_DIMENSIONS.map((key) => DIMENSION_COLUMNS[key]);

/** The columns of usage_records, in the order of toParams (sqlite-record-row.ts), with types. */
const RECORD_COLUMNS: readonly (readonly [string, string])[] = [
  ['id', 'text'],
  ['time', 'bigint'],
  ...Object.values(DIMENSION_COLUMNS).map((c) => [c, c === 'stream' ? 'smallint' : 'text'] as const),
  ['custom', 'text'],
  ...USAGE_FIELDS.map((k) => [TOKEN_COLUMNS[k], 'bigint'] as const),
  ['source', 'text'],
  ['status', 'integer'],
  ['latency_ms', 'float8'],
  ['upstream_request_id', 'text'],
  ['cost', 'float8'],
  ['flags', 'text'],
  ['provider_cost', 'float8'],
  ['token_details', 'text'],
];

/** The columns of usage_records in toParams order, `custom` read back as its JSON text. */
export const RECORD_SELECT = RECORD_COLUMNS.map(([c]) =>
  c === 'custom' ? 'custom::text AS custom' : c,
).join(', ');

/** The figures of a group of inserted rows, in ROLLUP_FIGURES order. */
const INSERTED_FIGURES = [
  'COUNT(*)',
  ...USAGE_FIELDS.map((k) => `COALESCE(SUM(${TOKEN_COLUMNS[k]}), 0)`),
  `COUNT(*) FILTER (WHERE source = 'estimated')`,
  `COUNT(*) FILTER (WHERE source = 'partial')`,
  'COALESCE(SUM(cost), 0)',
  'COUNT(cost)',
  `COALESCE(SUM(CASE WHEN u THEN ${PG_RECORD_TOKENS} ELSE 0 END), 0)`,
  'COUNT(*) FILTER (WHERE u)',
];

const ADD_FIGURES = (table: string): string =>
  ROLLUP_FIGURES.map((f) => `${f} = ${table}.${f} + EXCLUDED.${f}`).join(', ');

function rollupInsert(table: string, bucket: string, columns: readonly string[]): string {
  const key = [bucket, ...columns, 'u'];
  return `INSERT INTO ${table} (bucket, ${columns.join(', ')}, unpriced, ${ROLLUP_FIGURES.join(', ')})
    SELECT ${key.join(', ')}, ${INSERTED_FIGURES.join(', ')} FROM r
    GROUP BY ${key.join(', ')} ORDER BY ${key.join(', ')}
    ON CONFLICT ON CONSTRAINT ${table}_key DO UPDATE SET ${ADD_FIGURES(table)}`;
}

/**
 * Parameters: one array per RECORD_COLUMNS column. Returns one row, `inserted`: how many
 * records were new.
 */
export const APPEND_SQL = `WITH input AS (
    SELECT * FROM unnest(${RECORD_COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')})
      AS t(${RECORD_COLUMNS.map(([c]) => c).join(', ')})
  ), ins AS (
    INSERT INTO usage_records (${RECORD_COLUMNS.map(([c]) => c).join(', ')})
    SELECT ${RECORD_COLUMNS.map(([c]) => (c === 'custom' ? 'custom::jsonb' : c)).join(', ')} FROM input
    ORDER BY id, time
    ON CONFLICT (id, time) DO NOTHING
    RETURNING *
  ), r AS (
    SELECT ins.*, (time / ${HOUR_MS}) * ${HOUR_MS} AS hb, (time / ${DAY_MS}) * ${DAY_MS} AS db,
      ${PG_UNPRICED} AS u
    FROM ins
  ), hour_rows AS (
    ${rollupInsert('usage_rollup_hour', 'hb', [...HOUR_COLUMNS, 'custom'])}
  ), core_hour_rows AS (
    ${rollupInsert('usage_rollup_core_hour', 'hb', DAY_COLUMNS)}
  ), day_rows AS (
    ${rollupInsert('usage_rollup_day', 'db', DAY_COLUMNS)}
  ), names AS (
    INSERT INTO usage_custom_names (name)
    SELECT DISTINCT jsonb_object_keys(custom) FROM r WHERE custom <> '{}'::jsonb ORDER BY 1
    ON CONFLICT DO NOTHING
  )
  SELECT COUNT(*) AS inserted FROM ins`;

/** A batch as one array per column (APPEND_SQL's parameters). */
export function toColumnArrays(records: readonly UsageRecord[]): (string | number | null)[][] {
  const columns: (string | number | null)[][] = RECORD_COLUMNS.map(
    () => new Array<string | number | null>(records.length),
  );
  records.forEach((record, row) => {
    toParams(record).forEach((value, i) => {
      (columns[i] as (string | number | null)[])[row] = value;
    });
  });
  return columns;
}
