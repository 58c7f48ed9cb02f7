import { checkBucketLimit, checkByLimit, checkWhereLimit, QUERY_LIMITS } from '../reports/query-limits.js';
import { parseInterval, parseSince, parseUntil } from '../reports/time-args.js';
import {
  resolveUsageQuery,
  type ResolvedUsageQuery,
  type UsageFilter,
  type UsageQuery,
} from '../reports/usage-query.js';
import { atParam, QueryParamError } from './query-param-error.js';

/** The dimension `/api/usage` groups by without `by`, as `tokenmeter usage` does. */
export const DEFAULT_API_BY = 'subscription';

/**
 * Refuses parameters an endpoint does not know, and a repeated one that is not `repeatable`: a
 * misspelt `untill=` must not silently widen the answer. Throws QueryParamError naming it.
 */
export function checkParamNames(
  search: URLSearchParams,
  allowed: readonly string[],
  repeatable: readonly string[] = [],
): void {
  const seen = new Set<string>();
  for (const name of search.keys()) {
    if (!allowed.includes(name))
      throw new QueryParamError(
        name.slice(0, QUERY_LIMITS.valueLength),
        `unknown parameter ${JSON.stringify(name.slice(0, QUERY_LIMITS.valueLength))}: expected ${allowed.join(', ')}`,
      );
    if (seen.has(name) && !repeatable.includes(name))
      throw new QueryParamError(name, `parameter ${name} is given more than once`);
    seen.add(name);
  }
}

/** `where=DIM:VALUE`, split at the first `:`; an empty value means "the dimension is absent". */
function parseWhere(text: string): UsageFilter {
  const colon = text.indexOf(':');
  if (colon <= 0)
    throw new QueryParamError(
      'where',
      `invalid where ${JSON.stringify(text.slice(0, QUERY_LIMITS.valueLength))}: expected DIM:VALUE, e.g. model:gpt-4o`,
    );
  return { dim: text.slice(0, colon).trim(), value: text.slice(colon + 1) };
}

/** `by=a,b&by=c` → [a, b, c]; absent → the default; `by=` → no grouping (totals). */
function parseBy(values: readonly string[]): string[] {
  if (values.length === 0) return [DEFAULT_API_BY];
  return values
    .flatMap((v) => v.split(','))
    .map((d) => d.trim())
    .filter((d) => d !== '');
}

/** The time range and filters shared by every query endpoint, checked and limited. */
function parseRange(
  search: URLSearchParams,
  now: number,
): { since: number; until?: number; where: UsageFilter[] } {
  const since = atParam('since', () => parseSince(search.get('since') ?? undefined, now));
  const until = atParam('until', () => parseUntil(search.get('until') ?? undefined, now));
  if (until !== undefined && since >= until)
    throw new QueryParamError(
      'until',
      `until (${new Date(until).toISOString()}) must be after since (${new Date(since).toISOString()})`,
    );
  const whereTexts = search.getAll('where');
  if (whereTexts.length > QUERY_LIMITS.where)
    throw new QueryParamError(
      'where',
      `${whereTexts.length} filter conditions: at most ${QUERY_LIMITS.where}`,
    );
  const where = whereTexts.map(parseWhere);
  atParam('where', () => checkWhereLimit(where));
  return { since, ...(until !== undefined && { until }), where };
}

/** Resolves a query's names, naming `by` or `where` as the parameter at fault. */
export function resolveApiQuery(query: UsageQuery): ResolvedUsageQuery {
  atParam('by', () => resolveUsageQuery({ by: query.by, where: [] }));
  atParam('where', () => resolveUsageQuery({ by: [], where: query.where }));
  return resolveUsageQuery(query);
}

/**
 * `GET /api/usage` parameters → the UsageQuery `tokenmeter usage` would build from the same
 * options (defaults: by subscription, since 30d), with the shared limits. Throws QueryParamError.
 */
export function parseUsageParams(search: URLSearchParams, now: number): UsageQuery {
  checkParamNames(search, ['by', 'since', 'until', 'interval', 'where'], ['by', 'where']);
  const by = parseBy(search.getAll('by'));
  atParam('by', () => checkByLimit(by));
  const range = parseRange(search, now);
  const interval = atParam('interval', () => parseInterval(search.get('interval') ?? undefined));
  if (interval !== undefined) {
    atParam('interval', () => resolveUsageQuery({ by: [], interval, where: [] }));
    atParam('interval', () => checkBucketLimit({ ...range, interval }, now));
  }
  return { by, ...range, ...(interval !== undefined && { interval }) };
}

/** `GET /api/dimensions` parameters: an optional `name`, the range and filters of its values. */
export function parseDimensionsParams(
  search: URLSearchParams,
  now: number,
): { name?: string; range: Omit<UsageQuery, 'by' | 'interval'> } {
  checkParamNames(search, ['name', 'since', 'until', 'where'], ['where']);
  const name = search.get('name') ?? undefined;
  if (name !== undefined) atParam('name', () => checkByLimit([name]));
  if (name !== undefined) atParam('name', () => resolveUsageQuery({ by: [name], where: [] }));
  return { ...(name !== undefined && { name }), range: parseRange(search, now) };
}
