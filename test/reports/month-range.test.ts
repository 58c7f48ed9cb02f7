import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { splitByWeight } from '../../src/reports/capacity-split.js';
import { monthRange, zonedMidnight } from '../../src/reports/month-range.js';

describe('monthRange', () => {
  it('UTC: the calendar month, December into the next year', () => {
    assert.deepEqual(monthRange({ year: 2025, month: 12 }, 'UTC'), {
      since: Date.UTC(2025, 11, 1),
      until: Date.UTC(2026, 0, 1),
    });
  });

  it('a zone with DST: local midnight on both ends, each at its own offset', () => {
    // Berlin: UTC+1 on March 1, UTC+2 on April 1 (DST from March 29, 2026).
    assert.deepEqual(monthRange({ year: 2026, month: 3 }, 'Europe/Berlin'), {
      since: Date.UTC(2026, 1, 28, 23),
      until: Date.UTC(2026, 2, 31, 22),
    });
    // New York: EDT (UTC-4) on November 1, EST (UTC-5) on December 1.
    assert.deepEqual(monthRange({ year: 2026, month: 11 }, 'America/New_York'), {
      since: Date.UTC(2026, 10, 1, 4),
      until: Date.UTC(2026, 11, 1, 5),
    });
  });

  it('half-hour and quarter-hour offsets', () => {
    assert.equal(zonedMidnight(2026, 3, 1, 'Asia/Kolkata'), Date.UTC(2026, 1, 28, 18, 30));
    assert.equal(zonedMidnight(2026, 3, 1, 'Asia/Kathmandu'), Date.UTC(2026, 1, 28, 18, 15));
  });

  it('a day whose midnight does not exist starts when the clock jumps', () => {
    // Santiago springs forward at 24:00 on the first Saturday of September 2026: Sept 6 starts at 01:00 local (-03).
    assert.equal(zonedMidnight(2026, 9, 6, 'America/Santiago'), Date.UTC(2026, 8, 6, 4));
  });
});

describe('splitByWeight', () => {
  it('is proportional and sums exactly to the amount, the remainder to the largest share', () => {
    const shares = splitByWeight(
      100,
      new Map([
        ['a', 1],
        ['b', 1],
        ['c', 1],
      ]),
    );
    assert.deepEqual(
      [...shares],
      [
        ['a', 33.333334],
        ['b', 33.333333],
        ['c', 33.333333],
      ],
    );
    const big = splitByWeight(
      12_000,
      new Map([
        ['a', 3_000_000_000],
        ['b', 7_000_000_001],
        ['c', 1],
      ]),
    );
    const micro = [...big.values()].reduce((s, v) => s + Math.round(v * 1e6), 0);
    assert.equal(micro, 12_000 * 1e6);
    assert.equal(big.get('c'), 0.000001 * Math.floor((12_000e6 * 1) / 10_000_000_002));
  });

  it('charges nobody for capacity nobody used', () => {
    assert.equal(splitByWeight(50, new Map([['a', 0]])).size, 0);
  });
});
