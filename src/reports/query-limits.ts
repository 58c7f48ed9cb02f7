import { TokenmeterError } from '../errors.js';
import type { UsageFilter } from './usage-query.js';

/**
 * The most a usage question may ask, shared by `tokenmeter usage` (exit 2) and the query API
 * (400 naming the parameter): a query past them is refused before it reaches the ledger, so a
 * huge `where` list or an hourly interval over ten years is never executed.
 */
export const QUERY_LIMITS = Object.freeze({
  /** Dimensions to group by. */
  by: 5,
  /** Filter conditions (all dimensions together). */
  where: 50,
  /** Characters of one dimension name or filter value. */
  valueLength: 256,
  /** Time buckets an interval may cut the range into. */
  buckets: 10_000,
});

function tooMuch(message: string): TokenmeterError {
  return new TokenmeterError('TM_USAGE_ARGS', message);
}

function checkLength(what: string, text: string): void {
  if (text.length > QUERY_LIMITS.valueLength)
    throw tooMuch(`${what} is ${text.length} characters long: at most ${QUERY_LIMITS.valueLength}`);
}

/** At most QUERY_LIMITS.by dimensions, each name at most valueLength characters. Throws TM_USAGE_ARGS. */
export function checkByLimit(by: readonly string[]): void {
  if (by.length > QUERY_LIMITS.by)
    throw tooMuch(`${by.length} dimensions to group by: at most ${QUERY_LIMITS.by}`);
  for (const name of by) checkLength('a dimension name', name);
}

/** At most QUERY_LIMITS.where conditions, names and values at most valueLength characters. */
export function checkWhereLimit(where: readonly UsageFilter[]): void {
  if (where.length > QUERY_LIMITS.where)
    throw tooMuch(`${where.length} filter conditions: at most ${QUERY_LIMITS.where}`);
  for (const { dim, value } of where) {
    checkLength('a filter dimension name', dim);
    checkLength('a filter value', value);
  }
}

/**
 * At most QUERY_LIMITS.buckets intervals between `since` and `until` (`now` when open-ended: a
 * range reaching into the future is counted up to now, where records stop). Throws TM_USAGE_ARGS.
 */
export function checkBucketLimit(
  range: { since?: number | undefined; until?: number | undefined; interval?: number | undefined },
  now: number,
): void {
  const { since, interval } = range;
  if (since === undefined || interval === undefined || interval <= 0) return;
  const until = range.until ?? Math.max(now, since + 1);
  const buckets = Math.ceil((until - since) / interval);
  if (buckets > QUERY_LIMITS.buckets)
    throw tooMuch(
      `an interval of ${interval / 60_000} minute${interval === 60_000 ? '' : 's'} cuts this range into ${buckets} buckets: at most ${QUERY_LIMITS.buckets}; choose a coarser interval or a shorter range`,
    );
}
