import { USAGE_FIELDS, type TokenUsage } from '../usage.js';
import type { ResolvedDimension, ResolvedUsageQuery } from '../reports/usage-query.js';
import type { DefaultDimensionKey } from './record.js';

/**
 * The SQL of the SQLite ledger's usage queries, and the column names it shares with the
 * schema. Identifiers come only from the maps below; every value is a bound parameter.
 */

export type SqlValue = string | number | null;

/** Column of each default dimension. `user` is quoted everywhere: it is a keyword in PostgreSQL. */
export const DIMENSION_COLUMNS = {
  api: 'api',
  operation: 'operation',
  product: 'product',
  user: '"user"',
  subscription: 'subscription',
  ip: 'ip',
  location: 'location',
  gateway: 'gateway',
  backend: 'backend',
  model: 'model',
  responseModel: 'response_model',
  provider: 'provider',
  stream: 'stream',
} as const satisfies Record<DefaultDimensionKey, string>;

export const TOKEN_COLUMNS = {
  promptTokens: 'prompt_tokens',
  completionTokens: 'completion_tokens',
  totalTokens: 'total_tokens',
  cachedTokens: 'cached_tokens',
  cacheWriteTokens: 'cache_write_tokens',
  reasoningTokens: 'reasoning_tokens',
} as const satisfies Record<keyof TokenUsage, string>;

/**
 * The SQL expression of a dimension; custom names travel as a bound JSON path parameter. The
 * rollup tables name their columns alike, so it serves them too.
 */
export function dimensionSql(d: ResolvedDimension, params: Record<string, SqlValue>, slot: string): string {
  if (d.kind === 'default') return DIMENSION_COLUMNS[d.key];
  // resolveDimension has already refused any name that is not a plain identifier.
  params[slot] = `$."${d.name}"`;
  return `json_extract(custom, @${slot})`;
}

/** A record's tokens: the total as stored, else prompt + completion (0 when none reported). */
export const RECORD_TOKENS =
  'COALESCE(total_tokens, COALESCE(prompt_tokens, 0) + COALESCE(completion_tokens, 0))';

/**
 * A record is unpriced when it has tokens but no cost: its model had no price. A record without
 * tokens (a refused or failed call) has nothing to price, so it is neither.
 */
export const UNPRICED_SQL = `(cost IS NULL AND ${RECORD_TOKENS} > 0)`;

/**
 * The aggregate SQL of a validated query. Every value is a bound parameter; identifiers come
 * only from DIMENSION_COLUMNS / TOKEN_COLUMNS. Columns are aliased as toUsageRow expects.
 */
export function buildUsageSql(q: ResolvedUsageQuery): { sql: string; params: Record<string, SqlValue> } {
  const params: Record<string, SqlValue> = {};
  const select = q.by.map((d, i) => `${dimensionSql(d, params, `c${i}`)} AS d${i}`);
  const groupBy = q.by.map((_, i) => `d${i}`);
  if (q.interval !== undefined) {
    params['interval'] = q.interval;
    select.push('CAST(time / @interval AS INTEGER) * @interval AS bucket');
    groupBy.push('bucket');
  }
  const where = buildWhereSql(q, params);
  const sql = `SELECT ${[
    ...select,
    'COUNT(*) AS requests',
    ...USAGE_FIELDS.map((key) => `COALESCE(SUM(${TOKEN_COLUMNS[key]}), 0) AS ${key}`),
    `COALESCE(SUM(source = 'estimated'), 0) AS estimatedRequests`,
    `COALESCE(SUM(source = 'partial'), 0) AS partialRequests`,
    'SUM(cost) AS cost',
    `COALESCE(SUM(CASE WHEN ${UNPRICED_SQL} THEN ${RECORD_TOKENS} ELSE 0 END), 0) AS unpricedTokens`,
    `COALESCE(SUM(${UNPRICED_SQL}), 0) AS unpricedRequests`,
  ].join(', ')}
    FROM usage_records
    ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
    ${groupBy.length > 0 ? `GROUP BY ${groupBy.join(', ')}` : ''}`;
  return { sql, params };
}

/**
 * The WHERE conditions of a validated query (time range, filters, priced), AND-ed by the caller.
 * Values become bound parameters in `params`.
 */
export function buildWhereSql(
  q: Pick<ResolvedUsageQuery, 'since' | 'until' | 'where' | 'priced'>,
  params: Record<string, SqlValue>,
): string[] {
  const where: string[] = [];
  if (q.since !== undefined) {
    params['since'] = q.since;
    where.push('time >= @since');
  }
  if (q.until !== undefined) {
    params['until'] = q.until;
    where.push('time < @until');
  }
  q.where.forEach((filter, i) => {
    const expr = dimensionSql(filter.dimension, params, `wc${i}`);
    const values = filter.values.filter((v) => v !== null);
    const names = values.map((value, j) => {
      params[`w${i}_${j}`] = typeof value === 'boolean' ? Number(value) : value;
      return `@w${i}_${j}`;
    });
    const alternatives = [
      ...(names.length > 0 ? [`${expr} IN (${names.join(', ')})`] : []),
      ...(values.length < filter.values.length ? [`${expr} IS NULL`] : []),
    ];
    where.push(`(${alternatives.join(' OR ')})`);
  });
  if (q.priced !== undefined) where.push(q.priced ? `NOT ${UNPRICED_SQL}` : UNPRICED_SQL);
  return where;
}

/**
 * The distinct values of one dimension among the records a query's range and filters select,
 * in SQL order, at most `limit`.
 */
export function buildDimensionValuesSql(
  q: Pick<ResolvedUsageQuery, 'since' | 'until' | 'where' | 'priced'>,
  dimension: ResolvedDimension,
  limit: number,
): { sql: string; params: Record<string, SqlValue> } {
  const params: Record<string, SqlValue> = { limit: Math.max(0, Math.trunc(limit)) };
  const where = buildWhereSql(q, params);
  const sql = `SELECT DISTINCT ${dimensionSql(dimension, params, 'v')} AS v FROM usage_records
    ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY v LIMIT @limit`;
  return { sql, params };
}
