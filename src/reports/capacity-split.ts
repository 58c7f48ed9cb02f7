/** Cost amounts are split in millionths of the currency unit, the precision of report costs. */
const UNITS_PER_CURRENCY = 1_000_000n;

/**
 * Splits a fixed cost between shareholders in proportion to their weights (tokens on a
 * backend in the month). Invariants: every share is a whole number of millionths; the shares
 * sum to `amount` rounded to millionths exactly (integer arithmetic, BigInt so that token
 * counts times micro-amounts cannot overflow); the rounding remainder goes to the largest
 * weight (the first of equals, in the order given). Shareholders with weight 0 get nothing;
 * when every weight is 0 the result is empty: nobody used the capacity, nobody is charged.
 *
 * @example
 * splitByWeight(100, new Map([['a', 1], ['b', 2]])); // Map { a => 33.333333, b => 66.666667 }
 */
export function splitByWeight(amount: number, weights: ReadonlyMap<string, number>): Map<string, number> {
  const total = BigInt(Math.round(amount * Number(UNITS_PER_CURRENCY)));
  const positive = [...weights].filter(([, w]) => w > 0).map(([k, w]) => [k, BigInt(Math.round(w))] as const);
  const sum = positive.reduce((a, [, w]) => a + w, 0n);
  const shares = new Map<string, number>();
  if (sum === 0n) return shares;
  let given = 0n;
  let largest: readonly [string, bigint] | undefined;
  const units = new Map<string, bigint>();
  for (const entry of positive) {
    const share = (total * entry[1]) / sum; // floor: the remainder is handed out below
    units.set(entry[0], share);
    given += share;
    if (largest === undefined || entry[1] > largest[1]) largest = entry;
  }
  if (largest !== undefined) units.set(largest[0], (units.get(largest[0]) ?? 0n) + total - given);
  for (const [key, share] of units) shares.set(key, Number(share) / Number(UNITS_PER_CURRENCY));
  return shares;
}
