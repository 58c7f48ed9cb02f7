import type { ResolvedDimension, ResolvedUsageQuery } from '../reports/usage-query.js';
import { USAGE_FIELDS } from '../usage.js';
import type { RollupPiece } from './rollup-plan.js';
import { ROLLUP_FIGURES } from './rollup-schema.js';
import {
  buildWhereSql,
  dimensionSql,
  RECORD_TOKENS,
  TOKEN_COLUMNS,
  UNPRICED_SQL,
  type SqlValue,
} from './sqlite-usage-sql.js';

/**
 * The SQL of usage queries and dimension values answered from rollup pieces (rollup-plan.ts):
 * each piece selects rows with the same columns (d0…dN, tb, then ROLLUP_FIGURES), raw records
 * as rows of one record each, rollup rows as they are; the pieces are UNION ALL-ed and summed
 * by one outer GROUP BY. Values are bound parameters; a filter's parameters have the same names
 * and values in every piece, so they are bound once.
 */

const TABLES = {
  hour: 'usage_rollup_hour',
  coreHour: 'usage_rollup_core_hour',
  day: 'usage_rollup_day',
} as const;

/** A raw record's contribution to each rollup figure, in ROLLUP_FIGURES order. */
const RAW_FIGURES = [
  '1',
  ...USAGE_FIELDS.map((k) => `COALESCE(${TOKEN_COLUMNS[k]}, 0)`),
  `(source = 'estimated')`,
  `(source = 'partial')`,
  'cost',
  '(cost IS NOT NULL)',
  `CASE WHEN ${UNPRICED_SQL} THEN ${RECORD_TOKENS} ELSE 0 END`,
  UNPRICED_SQL,
];

/** The range and filter conditions of one piece, with its bounds under its own parameter names. */
function pieceWhere(
  q: Pick<ResolvedUsageQuery, 'where' | 'priced'>,
  p: RollupPiece,
  index: number,
  params: Record<string, SqlValue>,
): string[] {
  const column = p.source === 'raw' ? 'time' : 'bucket';
  const where = buildWhereSql({ where: q.where }, params);
  if (p.since !== undefined) {
    params[`p${index}s`] = p.since;
    where.push(`${column} >= @p${index}s`);
  }
  if (p.until !== undefined) {
    params[`p${index}u`] = p.until;
    where.push(`${column} < @p${index}u`);
  }
  if (q.priced !== undefined) {
    if (p.source === 'raw') where.push(q.priced ? `NOT ${UNPRICED_SQL}` : UNPRICED_SQL);
    else where.push(`unpriced = ${q.priced ? 0 : 1}`);
  }
  return where;
}

function fromWhere(p: RollupPiece, where: string[]): string {
  const table = p.source === 'raw' ? 'usage_records' : TABLES[p.source];
  return `FROM ${table}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''}`;
}

/**
 * The aggregate SQL of a validated query over the given pieces, its columns aliased as
 * toUsageRow expects (d0…dN, bucket, the figures).
 */
export function buildRollupUsageSql(
  q: ResolvedUsageQuery,
  pieces: readonly RollupPiece[],
): { sql: string; params: Record<string, SqlValue> } {
  const params: Record<string, SqlValue> = {};
  const dims = q.by.map((d, i) => `${dimensionSql(d, params, `c${i}`)} AS d${i}`);
  if (q.interval !== undefined) params['interval'] = q.interval;
  const selects = pieces.map((p, index) => {
    const time = p.source === 'raw' ? 'time' : 'bucket';
    const bucket = q.interval === undefined ? [] : [`CAST(${time} / @interval AS INTEGER) * @interval AS tb`];
    const figures =
      p.source === 'raw' ? RAW_FIGURES.map((expr, i) => `${expr} AS ${ROLLUP_FIGURES[i]}`) : ROLLUP_FIGURES;
    return `SELECT ${[...dims, ...bucket, ...figures].join(', ')} ${fromWhere(p, pieceWhere(q, p, index, params))}`;
  });
  const groups = [...q.by.map((_, i) => `d${i}`), ...(q.interval === undefined ? [] : ['tb'])];
  const sum = (column: string): string => `COALESCE(SUM(${column}), 0)`;
  const sql = `SELECT ${[
    ...groups,
    ...(q.interval === undefined ? [] : ['tb AS bucket']),
    `${sum('requests')} AS requests`,
    ...USAGE_FIELDS.map((k) => `${sum(TOKEN_COLUMNS[k])} AS ${k}`),
    `${sum('estimated_requests')} AS estimatedRequests`,
    `${sum('partial_requests')} AS partialRequests`,
    // NULL when no record of the group had a cost, as SUM(cost) over the records is.
    'CASE WHEN SUM(priced_requests) > 0 THEN TOTAL(cost_sum) END AS cost',
    `${sum('unpriced_tokens')} AS unpricedTokens`,
    `${sum('unpriced_requests')} AS unpricedRequests`,
  ].join(', ')}
    FROM (${selects.join(' UNION ALL ')})
    ${groups.length > 0 ? `GROUP BY ${groups.join(', ')}` : ''}`;
  return { sql, params };
}

/**
 * The distinct values of one dimension among the records a query selects, read from the
 * given pieces, in SQL order, at most `limit` (as buildDimensionValuesSql over raw records).
 */
export function buildRollupDimensionValuesSql(
  q: Pick<ResolvedUsageQuery, 'where' | 'priced'>,
  dimension: ResolvedDimension,
  pieces: readonly RollupPiece[],
  limit: number,
): { sql: string; params: Record<string, SqlValue> } {
  const params: Record<string, SqlValue> = { limit: Math.max(0, Math.trunc(limit)) };
  const value = dimensionSql(dimension, params, 'v');
  const selects = pieces.map(
    (p, index) => `SELECT DISTINCT ${value} AS v ${fromWhere(p, pieceWhere(q, p, index, params))}`,
  );
  const sql = `SELECT DISTINCT v FROM (${selects.join(' UNION ALL ')}) ORDER BY v LIMIT @limit`;
  return { sql, params };
}
