import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { budgetMonthOf } from '../../src/budgets/budget-month.js';
import { createBudgetTracker } from '../../src/budgets/budget-tracker.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { makeRecord } from '../ledger/fixtures/records.js';
import { budgetConfig, silent } from './budget-helpers.js';

describe('budget refresh across a month boundary', () => {
  it('a read begun in the old month and ended in the new one is discarded: the new month starts at zero', async () => {
    const timeZone = 'UTC';
    const month = budgetMonthOf(Date.parse('2026-03-15T12:00:00Z'), timeZone);
    const ledger = createSqliteLedger(':memory:');
    // 60 tokens in March: over the budget of 40.
    await ledger.appendBatch(
      [0, 1, 2, 3].map((i) =>
        makeRecord({ id: `m${i}`, time: month.since + 1000 + i, subscription: 'team-a' }),
      ),
    );
    let now = month.since + 3600_000;
    // The clock moves on to April as soon as a refresh has read it once: its read ends in April.
    let crossAfterRead = false;
    const clock = (): number => {
      const t = now;
      if (crossAfterRead) now = month.until;
      return t;
    };
    const tracker = createBudgetTracker({
      subscriptions: budgetConfig('sqlite::memory:', { monthlyTokens: 40, onExceeded: 'block' })
        .subscriptions,
      timeZone,
      currency: 'EUR',
      ledger,
      channels: [],
      log: silent,
      clock,
    });
    try {
      await tracker.refresh();
      assert.deepEqual(tracker.ratios(), [['team-a', 1.5]]);
      assert.equal(tracker.refusal('team-a')?.code, 'TM_BUDGET_EXCEEDED');
      crossAfterRead = true;
      await tracker.refresh();
      // March's totals were not installed in April.
      assert.deepEqual(tracker.ratios(), [['team-a', 0]]);
      assert.equal(tracker.refusal('team-a'), undefined);
      // April's records count from zero; the next refresh reads April from the ledger.
      const april = makeRecord({ id: 'april', time: month.until + 10, subscription: 'team-a' });
      await ledger.append(april);
      tracker.observe(april);
      assert.deepEqual(tracker.ratios(), [['team-a', 15 / 40]]);
      await tracker.refresh();
      assert.deepEqual(tracker.ratios(), [['team-a', 15 / 40]]);
    } finally {
      await tracker.close();
      await ledger.close();
    }
  });
});
