import { USAGE_FIELDS } from '../../usage.js';
import type { RepriceResult } from '../ledger.js';
import type { UsageRecord } from '../record.js';
import { DAY_DIMENSIONS, DAY_MS, HOUR_DIMENSIONS, HOUR_MS, ROLLUP_FIGURES } from '../rollup-schema.js';
import { fromRow } from '../sqlite-record-row.js';
import { DIMENSION_COLUMNS, TOKEN_COLUMNS } from '../sqlite-usage-sql.js';
import type { PgSql } from './pg-connect.js';
import { RECORD_SELECT } from './pg-append-sql.js';
import { PG_RECORD_TOKENS, PG_UNPRICED } from './pg-usage-sql.js';

/**
 * Reprice on PostgreSQL: recomputes the costs of a time range and rebuilds the rollups of the
 * hours (and their days) whose costs changed, in one transaction, so the rollups stay exact.
 * It holds the rollup lock exclusively (appends hold it shared): no append adds to the rows
 * it deletes and rebuilds meanwhile.
 */

/** Records read per page of the range (keyset pages of (time, id)). */
const REPRICE_PAGE = 5000;

const HOUR_COLUMNS = HOUR_DIMENSIONS.map((key) => DIMENSION_COLUMNS[key]);
const DAY_COLUMNS = DAY_DIMENSIONS.map((key) => DIMENSION_COLUMNS[key]);

/** The advisory lock appends take shared and reprice exclusive ('tkru'). */
export const ROLLUP_LOCK = 0x746b7275;

/** Hour rows of the hours in $1 (bigint[]), from the raw records; $2/$3 bound the range. */
const REBUILD_HOURS = `INSERT INTO usage_rollup_hour
    (bucket, ${HOUR_COLUMNS.join(', ')}, custom, unpriced, ${ROLLUP_FIGURES.join(', ')})
  SELECT b, ${HOUR_COLUMNS.join(', ')}, custom, u,
    COUNT(*), ${USAGE_FIELDS.map((k) => `COALESCE(SUM(${TOKEN_COLUMNS[k]}), 0)`).join(', ')},
    COUNT(*) FILTER (WHERE source = 'estimated'), COUNT(*) FILTER (WHERE source = 'partial'),
    COALESCE(SUM(cost), 0), COUNT(cost),
    COALESCE(SUM(CASE WHEN u THEN ${PG_RECORD_TOKENS} ELSE 0 END), 0), COUNT(*) FILTER (WHERE u)
  FROM (SELECT *, (time / ${HOUR_MS}) * ${HOUR_MS} AS b, ${PG_UNPRICED} AS u FROM usage_records
        WHERE time >= $2::bigint AND time < $3::bigint) AS records
  WHERE b = ANY($1::bigint[])
  GROUP BY b, ${HOUR_COLUMNS.join(', ')}, custom, u`;

/** Core hour rows of the hours in $1: the projection of their hour rows. */
const REBUILD_CORE_HOURS = `INSERT INTO usage_rollup_core_hour
    (bucket, ${DAY_COLUMNS.join(', ')}, unpriced, ${ROLLUP_FIGURES.join(', ')})
  SELECT bucket, ${DAY_COLUMNS.join(', ')}, unpriced, ${ROLLUP_FIGURES.map((f) => `SUM(${f})`).join(', ')}
  FROM usage_rollup_hour WHERE bucket = ANY($1::bigint[])
  GROUP BY bucket, ${DAY_COLUMNS.join(', ')}, unpriced`;

/** Day rows of the days in $1: the sum of their hour rows. */
const REBUILD_DAYS = `INSERT INTO usage_rollup_day
    (bucket, ${DAY_COLUMNS.join(', ')}, unpriced, ${ROLLUP_FIGURES.join(', ')})
  SELECT b, ${DAY_COLUMNS.join(', ')}, unpriced, ${ROLLUP_FIGURES.map((f) => `SUM(${f})`).join(', ')}
  FROM (SELECT *, (bucket / ${DAY_MS}) * ${DAY_MS} AS b FROM usage_rollup_hour
        WHERE bucket >= $2::bigint AND bucket < $3::bigint) AS hours
  WHERE b = ANY($1::bigint[])
  GROUP BY b, ${DAY_COLUMNS.join(', ')}, unpriced`;

export async function repricePg(
  sql: PgSql,
  range: { since: number; until: number },
  price: (record: UsageRecord) => number | undefined,
): Promise<RepriceResult> {
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${ROLLUP_LOCK})`;
    const result: RepriceResult = { records: 0, changed: 0 };
    const hours = new Set<number>();
    let after: [number, string] = [range.since, ''];
    for (;;) {
      const rows = await tx.unsafe<Record<string, unknown>[]>(
        `SELECT ${RECORD_SELECT} FROM usage_records
         WHERE time >= $1::bigint AND time < $2::bigint AND (time, id) > ($3::bigint, $4::text)
         ORDER BY time, id LIMIT ${REPRICE_PAGE}`,
        [range.since, range.until, after[0], after[1]],
      );
      const last = rows.at(-1);
      if (last === undefined) break;
      const ids: string[] = [];
      const times: number[] = [];
      const costs: (number | null)[] = [];
      for (const row of rows) {
        const record = fromRow(row);
        const cost = price(record) ?? null;
        result.records += 1;
        if (cost === (record.cost ?? null)) continue;
        ids.push(record.id);
        times.push(record.time);
        costs.push(cost);
        hours.add(Math.floor(record.time / HOUR_MS) * HOUR_MS);
      }
      if (ids.length > 0) {
        await tx.unsafe(
          `UPDATE usage_records AS r SET cost = v.cost
           FROM unnest($1::text[], $2::bigint[], $3::float8[]) AS v(id, time, cost)
           WHERE r.id = v.id AND r.time = v.time`,
          [ids, times, costs] as never,
        );
        result.changed += ids.length;
      }
      after = [Number(last['time']), String(last['id'])];
    }
    if (hours.size > 0) {
      const hourList = [...hours].sort((a, b) => a - b);
      const days = [...new Set(hourList.map((h) => Math.floor(h / DAY_MS) * DAY_MS))];
      const first = hourList[0] as number;
      const end = (hourList.at(-1) as number) + HOUR_MS;
      await tx.unsafe('DELETE FROM usage_rollup_hour WHERE bucket = ANY($1::bigint[])', [hourList] as never);
      await tx.unsafe('DELETE FROM usage_rollup_core_hour WHERE bucket = ANY($1::bigint[])', [
        hourList,
      ] as never);
      await tx.unsafe(REBUILD_HOURS, [hourList, first, end] as never);
      await tx.unsafe(REBUILD_CORE_HOURS, [hourList] as never);
      await tx.unsafe('DELETE FROM usage_rollup_day WHERE bucket = ANY($1::bigint[])', [days] as never);
      await tx.unsafe(REBUILD_DAYS, [days, days[0], (days.at(-1) as number) + DAY_MS] as never);
    }
    return result;
  });
}
