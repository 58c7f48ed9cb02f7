import type { Prng } from './prng.js';

const HOUR_MS = 3_600_000;

/**
 * Relative call volume per UTC hour of a weekday: low at night, rising from 06:00, a plateau over
 * European and American business hours with a lunch dip, tailing off in the evening.
 */
const HOUR_WEIGHTS: readonly number[] = [
  0.12, 0.1, 0.08, 0.08, 0.1, 0.16, 0.3, 0.55, 0.85, 1, 1, 0.95, 0.8, 0.9, 1, 1, 0.95, 0.8, 0.6, 0.45, 0.32,
  0.24, 0.18, 0.14,
];

/** Saturday and Sunday carry this share of a weekday's volume (batch jobs, on-call, a few keen people). */
const WEEKEND_FACTOR = 0.3;

/**
 * Hands out the times of `count` calls over `[since, until)` in ascending order, as a gateway
 * writes them, following the daily and weekly rhythm (UTC), with each day ±15 % of its usual
 * volume. Stratified inverse sampling of the rhythm's distribution: exactly `count` times, each
 * in its own 1/count slice of the volume, so the shape holds even for small counts.
 * Invariant: `since < until`, `count ≥ 1`; `nextTime` is called at most `count` times.
 */
export function createTrafficClock(
  range: { since: number; until: number },
  count: number,
  prng: Prng,
): { nextTime(): number } {
  // Buckets: the range cut at every UTC hour boundary.
  const edges: number[] = [range.since];
  for (let t = Math.floor(range.since / HOUR_MS + 1) * HOUR_MS; t < range.until; t += HOUR_MS) edges.push(t);
  edges.push(range.until);
  const dayFactors = new Map<number, number>();
  const cumulative: number[] = [0];
  for (let b = 0; b + 1 < edges.length; b++) {
    const start = edges[b] ?? 0;
    const date = new Date(start);
    const day = Math.floor(start / (24 * HOUR_MS));
    let dayFactor = dayFactors.get(day);
    if (dayFactor === undefined) {
      const weekday = date.getUTCDay();
      dayFactor = (weekday === 0 || weekday === 6 ? WEEKEND_FACTOR : 1) * (0.85 + 0.3 * prng.next());
      dayFactors.set(day, dayFactor);
    }
    const weight =
      (HOUR_WEIGHTS[date.getUTCHours()] ?? 1) * dayFactor * (((edges[b + 1] ?? 0) - start) / HOUR_MS);
    cumulative.push((cumulative[b] ?? 0) + weight);
  }
  const total = cumulative[cumulative.length - 1] ?? 0;
  let i = 0;
  let bucket = 0;
  return {
    nextTime() {
      const q = ((i + prng.next()) / count) * total;
      i++;
      while (bucket + 2 < cumulative.length && (cumulative[bucket + 1] ?? 0) <= q) bucket++;
      const low = cumulative[bucket] ?? 0;
      const high = cumulative[bucket + 1] ?? 0;
      const start = edges[bucket] ?? range.since;
      const end = edges[bucket + 1] ?? range.until;
      const within = high > low ? (q - low) / (high - low) : 0;
      return Math.min(range.until - 1, Math.floor(start + within * (end - start)));
    },
  };
}
