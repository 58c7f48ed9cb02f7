import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDayEligible, planRollupPieces } from '../../src/ledger/rollup-plan.js';
import { resolveUsageQuery, type UsageQuery } from '../../src/reports/usage-query.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const T = Date.UTC(2025, 5, 1);

function plan(query: Partial<UsageQuery>): ReturnType<typeof planRollupPieces> {
  const q = resolveUsageQuery({ by: [], where: [], ...query });
  return planRollupPieces(q, isDayEligible(q));
}

describe('rollup query planning', () => {
  it('reads raw records only for intervals that do not nest in hours', () => {
    for (const interval of [15 * MIN, 90 * MIN, 1, HOUR + 1])
      assert.deepEqual(plan({ interval, since: T, until: T + DAY }), [
        { source: 'raw', since: T, until: T + DAY },
      ]);
  });

  it('reads raw records for a range without a full hour, even one crossing an hour', () => {
    assert.deepEqual(plan({ since: T + 5 * MIN, until: T + HOUR + 5 * MIN }), [
      { source: 'raw', since: T + 5 * MIN, until: T + HOUR + 5 * MIN },
    ]);
  });

  it('splits a range into raw edges, core hour rollups and day rollups, covering it once', () => {
    assert.deepEqual(plan({ since: T - HOUR - 1, until: T + 2 * DAY + HOUR + 1 }), [
      { source: 'raw', since: T - HOUR - 1, until: T - HOUR },
      { source: 'raw', since: T + 2 * DAY + HOUR, until: T + 2 * DAY + HOUR + 1 },
      { source: 'coreHour', since: T - HOUR, until: T },
      { source: 'coreHour', since: T + 2 * DAY, until: T + 2 * DAY + HOUR },
      { source: 'day', since: T, until: T + 2 * DAY },
    ]);
  });

  it('uses hour rollups only when the query needs user, ip or a custom dimension', () => {
    for (const query of [
      { by: ['user'] },
      { by: ['Subscription ID', 'ip'] },
      { by: ['team'] },
      { where: [{ dim: 'user', value: 'ann' }] },
      { where: [{ dim: 'custom.model', value: '' }] },
    ])
      assert.deepEqual(plan({ ...query, since: T, until: T + 3 * DAY }), [
        { source: 'hour', since: T, until: T + 3 * DAY },
      ]);
  });

  it('uses hour rollups for an hourly interval, day rollups for whole-day intervals', () => {
    assert.deepEqual(plan({ interval: 2 * HOUR, since: T, until: T + 3 * DAY }), [
      { source: 'coreHour', since: T, until: T + 3 * DAY },
    ]);
    assert.deepEqual(plan({ interval: HOUR, by: ['user'], since: T, until: T + 3 * DAY }), [
      { source: 'hour', since: T, until: T + 3 * DAY },
    ]);
    assert.deepEqual(plan({ interval: 2 * DAY, by: ['model'], where: [{ dim: 'priced', value: 'false' }] }), [
      { source: 'day' },
    ]);
  });

  it('leaves an open bound open', () => {
    assert.deepEqual(plan({ since: T + 1 }), [
      { source: 'raw', since: T + 1, until: T + HOUR },
      { source: 'coreHour', since: T + HOUR, until: T + DAY },
      { source: 'day', since: T + DAY },
    ]);
    assert.deepEqual(plan({ until: T + 1, by: ['user'] }), [
      { source: 'raw', since: T, until: T + 1 },
      { source: 'hour', until: T },
    ]);
  });
});
