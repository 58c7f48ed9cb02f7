import type { ResolvedDimension, ResolvedUsageQuery } from '../../reports/usage-query.js';
import { USAGE_FIELDS } from '../../usage.js';
import type { RollupPiece } from '../rollup-plan.js';
import { ROLLUP_FIGURES } from '../rollup-schema.js';
import { DIMENSION_COLUMNS, TOKEN_COLUMNS } from '../sqlite-usage-sql.js';

/**
 * The SQL of the PostgreSQL ledger's usage queries: the SQLite ledger's (sqlite-usage-sql.ts,
 * rollup-query-sql.ts) ported, with the same columns, the same NULL handling and the same
 * epoch-aligned buckets, so both backends answer alike. Identifiers come only from
 * DIMENSION_COLUMNS / TOKEN_COLUMNS; every value is a positional parameter with an explicit
 * type (the driver then never guesses one).
 */

export type PgValue = string | number | boolean | null | readonly (string | null)[];

/** Positional parameters collected while a statement is built. */
export class PgParams {
  readonly values: PgValue[] = [];
  /** Binds a value and returns its placeholder, cast to `type`. */
  add(value: PgValue, type: string): string {
    this.values.push(value);
    return `$${this.values.length}::${type}`;
  }
}

const TABLES = {
  hour: 'usage_rollup_hour',
  coreHour: 'usage_rollup_core_hour',
  day: 'usage_rollup_day',
} as const;

/** A record's tokens: the total as stored, else prompt + completion (0 when none reported). */
export const PG_RECORD_TOKENS =
  'COALESCE(total_tokens, COALESCE(prompt_tokens, 0) + COALESCE(completion_tokens, 0))';

/** A record with tokens but no cost (sqlite-usage-sql.ts UNPRICED_SQL). */
export const PG_UNPRICED = `(cost IS NULL AND ${PG_RECORD_TOKENS} > 0)`;

/** The SQL type of a dimension's values. */
function dimensionType(d: ResolvedDimension): string {
  return d.kind === 'default' && d.key === 'stream' ? 'smallint' : 'text';
}

/**
 * The expression of a dimension, on records and on rollup rows alike (they name their columns
 * the same). A custom value is the JSON member's text, as SQLite's json_extract gives it.
 */
function dimensionSql(d: ResolvedDimension, params: PgParams): string {
  if (d.kind === 'default') return DIMENSION_COLUMNS[d.key];
  return `(custom ->> ${params.add(d.name, 'text')})`;
}

/** The filter conditions of a query (values of one dimension OR-ed, dimensions AND-ed). */
function filterSql(q: Pick<ResolvedUsageQuery, 'where'>, params: PgParams): string[] {
  return q.where.map((filter) => {
    const expr = dimensionSql(filter.dimension, params);
    const values = filter.values.filter((v) => v !== null);
    const type = dimensionType(filter.dimension);
    const names = values.map((value) => params.add(typeof value === 'boolean' ? Number(value) : value, type));
    const alternatives = [
      ...(names.length > 0 ? [`${expr} IN (${names.join(', ')})`] : []),
      ...(values.length < filter.values.length ? [`${expr} IS NULL`] : []),
    ];
    return `(${alternatives.join(' OR ')})`;
  });
}

/** A raw record's contribution to each rollup figure, in ROLLUP_FIGURES order. */
const RAW_FIGURES = [
  '1',
  ...USAGE_FIELDS.map((k) => `COALESCE(${TOKEN_COLUMNS[k]}, 0)`),
  `(source = 'estimated')::int`,
  `(source = 'partial')::int`,
  'cost',
  '(cost IS NOT NULL)::int',
  `CASE WHEN ${PG_UNPRICED} THEN ${PG_RECORD_TOKENS} ELSE 0 END`,
  `${PG_UNPRICED}::int`,
];

/** The range, filter and priced conditions of one piece. */
function pieceWhere(
  q: Pick<ResolvedUsageQuery, 'where' | 'priced'>,
  p: RollupPiece,
  params: PgParams,
): string[] {
  const column = p.source === 'raw' ? 'time' : 'bucket';
  const where = filterSql(q, params);
  if (p.since !== undefined) where.push(`${column} >= ${params.add(p.since, 'bigint')}`);
  if (p.until !== undefined) where.push(`${column} < ${params.add(p.until, 'bigint')}`);
  if (q.priced !== undefined) {
    if (p.source === 'raw') where.push(q.priced ? `NOT ${PG_UNPRICED}` : PG_UNPRICED);
    else where.push(q.priced ? 'NOT unpriced' : 'unpriced');
  }
  return where;
}

function fromWhere(p: RollupPiece, where: string[]): string {
  const table = p.source === 'raw' ? 'usage_records' : TABLES[p.source];
  return `FROM ${table}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''}`;
}

/**
 * The aggregate SQL of a validated query over the given pieces (rollup-plan.ts; one raw piece
 * for the whole range reads records only), its columns aliased as toUsageRow expects. Buckets
 * are `trunc(time / interval) * interval`, as SQLite's integer division gives them.
 */
export function buildPgUsageSql(
  q: ResolvedUsageQuery,
  pieces: readonly RollupPiece[],
): { sql: string; params: PgValue[] } {
  const params = new PgParams();
  const selects = pieces.map((p) => {
    const dims = q.by.map((d, i) => `${dimensionSql(d, params)} AS d${i}`);
    const time = p.source === 'raw' ? 'time' : 'bucket';
    const bucket =
      q.interval === undefined
        ? []
        : [`(${time} / ${params.add(q.interval, 'bigint')}) * ${params.add(q.interval, 'bigint')} AS tb`];
    const figures =
      p.source === 'raw' ? RAW_FIGURES.map((expr, i) => `${expr} AS ${ROLLUP_FIGURES[i]}`) : ROLLUP_FIGURES;
    return `SELECT ${[...dims, ...bucket, ...figures].join(', ')} ${fromWhere(p, pieceWhere(q, p, params))}`;
  });
  const groups = [...q.by.map((_, i) => `d${i}`), ...(q.interval === undefined ? [] : ['tb'])];
  const sum = (column: string): string => `COALESCE(SUM(${column}), 0)`;
  const sql = `SELECT ${[
    ...groups,
    ...(q.interval === undefined ? [] : ['tb AS bucket']),
    `${sum('requests')} AS "requests"`,
    ...USAGE_FIELDS.map((k) => `${sum(TOKEN_COLUMNS[k])} AS "${k}"`),
    `${sum('estimated_requests')} AS "estimatedRequests"`,
    `${sum('partial_requests')} AS "partialRequests"`,
    // NULL when no record of the group had a cost, as SUM(cost) over the records is.
    'CASE WHEN SUM(priced_requests) > 0 THEN COALESCE(SUM(cost_sum), 0) END AS "cost"',
    `${sum('unpriced_tokens')} AS "unpricedTokens"`,
    `${sum('unpriced_requests')} AS "unpricedRequests"`,
  ].join(', ')}
    FROM (${selects.join(' UNION ALL ')}) AS pieces
    ${groups.length > 0 ? `GROUP BY ${groups.join(', ')}` : ''}`;
  return { sql, params: params.values };
}

/**
 * The distinct values of one dimension among the records a query selects, read from the given
 * pieces, NULL first then in byte order (COLLATE "C", SQLite's BINARY), at most `limit`.
 */
export function buildPgDimensionValuesSql(
  q: Pick<ResolvedUsageQuery, 'where' | 'priced'>,
  dimension: ResolvedDimension,
  pieces: readonly RollupPiece[],
  limit: number,
): { sql: string; params: PgValue[] } {
  const params = new PgParams();
  const selects = pieces.map(
    (p) =>
      `SELECT DISTINCT ${dimensionSql(dimension, params)} AS v ${fromWhere(p, pieceWhere(q, p, params))}`,
  );
  const order = dimensionType(dimension) === 'text' ? 'v COLLATE "C"' : 'v';
  const sql = `SELECT v FROM (SELECT DISTINCT v FROM (${selects.join(' UNION ALL ')}) AS pieces) AS values_
    ORDER BY ${order} NULLS FIRST LIMIT ${params.add(Math.max(0, Math.trunc(limit)), 'bigint')}`;
  return { sql, params: params.values };
}
