import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { budgetMonthOf } from '../../src/budgets/budget-month.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import type { OutboxLedger } from '../../src/outbox/outbox-ledger.js';
import { makeTempDir } from '../ledger/fixtures/records.js';
import { budgetConfig, KEY, silent } from './budget-helpers.js';

/** A power of two: used = ratio × limit is exact in floating point. */
const LIMIT = 2 ** 30;
const CLIENTS = 12;
const CALLS_PER_CLIENT = 40;
const ROUNDS = 3;

/** One chat call of team-a; resolves with the total tokens the client was told. */
async function chatTokens(gw: Gateway, i: number): Promise<number> {
  const res = await fetch(`${gw.url}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'api-key': KEY },
    body: JSON.stringify({
      model: 'gpt-4o-mini',
      // Prompts of different lengths: records differ in their token counts.
      messages: [{ role: 'user', content: 'hi '.repeat(1 + (i % 7)) }],
    }),
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { usage?: { total_tokens?: number } };
  const tokens = body.usage?.total_tokens;
  assert.ok(typeof tokens === 'number' && tokens > 0, 'the answer reports its usage');
  return tokens;
}

/** The tracker's tokens used by team-a this month. */
function usedTokens(gw: Gateway): number {
  const ratio = gw.budgets?.ratios().find(([id]) => id === 'team-a')?.[1];
  assert.ok(ratio !== undefined);
  return ratio * LIMIT;
}

describe('budgets through the outbox', () => {
  let temp: { dir: string; cleanup: () => Promise<void> };
  before(async () => (temp = await makeTempDir()));
  after(() => temp.cleanup());

  it('stay exact while calls and refreshes run concurrently: used = what the clients saw = the ledger month total', async () => {
    const path = join(temp.dir, 'exact.db');
    const gw = await startGateway(budgetConfig(`sqlite:${path}`, { monthlyTokens: LIMIT }), {
      port: 0,
      logger: silent,
      // Only the refreshes of this test run (no timer refresh after the calls ended).
      budgets: { refreshMs: 3_600_000 },
    });
    const month = budgetMonthOf(Date.now(), 'UTC');
    let seen = 0;
    try {
      assert.ok('readConsistent' in gw.ledger, 'a file ledger is written through the outbox');
      for (let round = 0; round < ROUNDS; round++) {
        let completed = 0;
        let refreshes = 0;
        // Refreshes run back to back while the calls do, and stop before the last calls end: the
        // last refresh overlapped calls, and none comes after them.
        const stopRefreshing = (): boolean => completed >= CLIENTS * CALLS_PER_CLIENT * 0.8;
        const refreshing = (async () => {
          while (!stopRefreshing()) {
            await gw.budgets?.refresh();
            refreshes++;
            // A turn for the calls: a refresh may complete without one (a synchronous read).
            await new Promise((resolve) => setImmediate(resolve));
          }
        })();
        const clients = Array.from({ length: CLIENTS }, async (_, c) => {
          let sum = 0;
          for (let i = 0; i < CALLS_PER_CLIENT; i++) {
            sum += await chatTokens(gw, c + i);
            completed++;
          }
          return sum;
        });
        await refreshing;
        seen += (await Promise.all(clients)).reduce((a, b) => a + b, 0);
        assert.ok(refreshes > 0, 'refreshes ran during the calls');
        // Every record is observed before its answer ends: the tracker counts each call once.
        assert.equal(usedTokens(gw), seen, `round ${round}: used after the calls`);
      }
      // Shipped, then read back: the ledger's figure replaces the gateway's own counts.
      assert.equal(await (gw.ledger as OutboxLedger).outbox.catchUp(10_000), true);
      await gw.budgets?.refresh();
      assert.equal(usedTokens(gw), seen);
    } finally {
      await gw.close();
    }
    const ledger = createSqliteLedger(path);
    try {
      const totals = await ledger.subscriptionTotals({ since: month.since, until: month.until }, ['team-a']);
      assert.equal(totals.get('team-a')?.tokens, seen);
      assert.equal(await ledger.count(), ROUNDS * CLIENTS * CALLS_PER_CLIENT);
    } finally {
      await ledger.close();
    }
  });
});
