import type { ResolvedDimension, ResolvedUsageQuery } from '../reports/usage-query.js';
import { DAY_MS, HOUR_MS, HOUR_ONLY_DIMENSIONS } from './rollup-schema.js';

/** Where one piece of a query's time range is read from. */
export type RollupSource = 'raw' | 'hour' | 'coreHour' | 'day';

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
 *   UTC days inside, the core hour rollup for the full hours left at each end (and for all
 *   the full hours of a day-eligible query whose interval is whole hours but not days).
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
  // Hours of a day-eligible query read the core hour rows (no user, ip or custom values to
  // multiply them), the others the full hour rows.
  const hours: RollupSource = dayEligible ? 'coreHour' : 'hour';
  if (dayEligible && (interval === undefined || interval % DAY_MS === 0)) {
    const daySince = hourSince === undefined ? undefined : ceilTo(hourSince, DAY_MS);
    const dayUntil = hourUntil === undefined ? undefined : floorTo(hourUntil, DAY_MS);
    if (daySince === undefined || dayUntil === undefined || daySince < dayUntil) {
      if (hourSince !== undefined && daySince !== undefined && hourSince < daySince)
        pieces.push(piece(hours, hourSince, daySince));
      if (hourUntil !== undefined && dayUntil !== undefined && dayUntil < hourUntil)
        pieces.push(piece(hours, dayUntil, hourUntil));
      pieces.push(piece('day', daySince, dayUntil));
      return pieces;
    }
  }
  pieces.push(piece(hours, hourSince, hourUntil));
  return pieces;
}

/** More pieces than this read raw records instead (SQLite caps a compound SELECT at 500). */
export const MAX_PIECES = 64;

/** Cuts the units in `starts` (sorted, unit-aligned) out of piece `p`, replacing each by `inner`. */
function carve(
  p: RollupPiece,
  starts: readonly number[],
  unit: number,
  inner: (from: number, to: number) => RollupPiece[],
): RollupPiece[] {
  const out: RollupPiece[] = [];
  let cursor = p.since;
  for (const start of starts) {
    if (p.since !== undefined && start < p.since) continue;
    if (p.until !== undefined && start >= p.until) break;
    if (cursor === undefined || cursor < start) out.push(piece(p.source, cursor, start));
    out.push(...inner(start, start + unit));
    cursor = start + unit;
  }
  if (cursor === undefined || p.until === undefined || cursor < p.until)
    out.push(piece(p.source, cursor, p.until));
  return out;
}

/**
 * Replaces, in planned pieces, every marked hour (rollup-store.ts: its rollup rows may lack
 * figures not yet flushed, or be due for a rebuild) by raw records, and every day holding a
 * marked hour by the hour rollup for its other hours; adjacent raw pieces are merged. The
 * result covers the same range exactly once.
 */
export function avoidMarkedHours(
  pieces: readonly RollupPiece[],
  markedHours: readonly number[],
): RollupPiece[] {
  if (markedHours.length === 0) return [...pieces];
  const hours = [...new Set(markedHours)].sort((a, b) => a - b);
  const days = [...new Set(hours.map((h) => floorTo(h, DAY_MS)))];
  const rawHour = (from: number, to: number): RollupPiece[] => [piece('raw', from, to)];
  const hourPieces = (p: RollupPiece): RollupPiece[] => carve(p, hours, HOUR_MS, rawHour);
  const out: RollupPiece[] = [];
  for (const p of pieces) {
    if (p.source === 'raw') out.push(p);
    else if (p.source === 'hour' || p.source === 'coreHour') out.push(...hourPieces(p));
    // Day pieces exist only for day-eligible queries: their hours read the core hour rows.
    else out.push(...carve(p, days, DAY_MS, (from, to) => hourPieces(piece('coreHour', from, to))));
  }
  const merged: RollupPiece[] = [];
  for (const p of out) {
    const last = merged.at(-1);
    if (last?.source === p.source && last.until !== undefined && last.until === p.since) {
      merged[merged.length - 1] = piece(p.source, last.since, p.until);
    } else merged.push(p);
  }
  return merged;
}
