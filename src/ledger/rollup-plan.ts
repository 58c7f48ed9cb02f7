import type { ResolvedDimension, ResolvedUsageQuery } from '../reports/usage-query.js';
import { DAY_MS, HOUR_MS, HOUR_ONLY_DIMENSIONS } from './rollup-schema.js';

/** Where one piece of a query's time range is read from. */
export type RollupSource = 'raw' | 'hour' | 'day';

/**
 * One piece of a query's range, [since, until): an undefined bound is open. Rollup pieces are
 * aligned to their bucket (a full hour / full UTC day at each bound).
 */
export interface RollupPiece {
  source: RollupSource;
  since?: number;
  until?: number;
}

/** Whether the day rollup has every dimension a query groups by or filters on. */
export function isDayEligible(q: Pick<ResolvedUsageQuery, 'by' | 'where'>): boolean {
  const fits = (d: ResolvedDimension): boolean => d.kind === 'default' && !HOUR_ONLY_DIMENSIONS.has(d.key);
  return q.by.every(fits) && q.where.every((filter) => fits(filter.dimension));
}

const ceilTo = (t: number, unit: number): number => Math.ceil(t / unit) * unit;
const floorTo = (t: number, unit: number): number => Math.floor(t / unit) * unit;

function piece(source: RollupSource, since: number | undefined, until: number | undefined): RollupPiece {
  return { source, ...(since !== undefined && { since }), ...(until !== undefined && { until }) };
}

/**
 * Splits a query's range into pieces that together cover it exactly once:
 * - an interval that is not a whole number of hours (15m, 90m): raw records for all of it;
 * - otherwise raw records for the partial hours at each end ([since, ceilHour(since)) and
 *   [floorHour(until), until)), and rollups for the full hours between;
 * - of those, when the query is day-eligible (no user, ip or custom dimension in `by` or
 *   `where`) and the interval is none or a whole number of days, the day rollup for the full
 *   UTC days inside, the hour rollup for the full hours left at each end.
 * Buckets are epoch-aligned, so a whole-hour (whole-day) interval bucket is a union of hours
 * (days): summing rollup rows into interval buckets gives what summing records would.
 */
export function planRollupPieces(
  q: Pick<ResolvedUsageQuery, 'since' | 'until' | 'interval'>,
  dayEligible: boolean,
): RollupPiece[] {
  const { since, until, interval } = q;
  if (interval !== undefined && interval % HOUR_MS !== 0) return [piece('raw', since, until)];
  const hourSince = since === undefined ? undefined : ceilTo(since, HOUR_MS);
  const hourUntil = until === undefined ? undefined : floorTo(until, HOUR_MS);
  if (hourSince !== undefined && hourUntil !== undefined && hourSince >= hourUntil)
    return [piece('raw', since, until)];
  const pieces: RollupPiece[] = [];
  if (since !== undefined && hourSince !== undefined && since < hourSince)
    pieces.push(piece('raw', since, hourSince));
  if (until !== undefined && hourUntil !== undefined && hourUntil < until)
    pieces.push(piece('raw', hourUntil, until));
  if (dayEligible && (interval === undefined || interval % DAY_MS === 0)) {
    const daySince = hourSince === undefined ? undefined : ceilTo(hourSince, DAY_MS);
    const dayUntil = hourUntil === undefined ? undefined : floorTo(hourUntil, DAY_MS);
    if (daySince === undefined || dayUntil === undefined || daySince < dayUntil) {
      if (hourSince !== undefined && daySince !== undefined && hourSince < daySince)
        pieces.push(piece('hour', hourSince, daySince));
      if (hourUntil !== undefined && dayUntil !== undefined && dayUntil < hourUntil)
        pieces.push(piece('hour', dayUntil, hourUntil));
      pieces.push(piece('day', daySince, dayUntil));
      return pieces;
    }
  }
  pieces.push(piece('hour', hourSince, hourUntil));
  return pieces;
}
