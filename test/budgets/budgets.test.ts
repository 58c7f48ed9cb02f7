import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { budgetMonthOf } from '../../src/budgets/budget-month.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { makeTempDir } from '../ledger/fixtures/records.js';
import {
  budgetConfig,
  chat,
  KEY,
  startBudgetGateway,
  startMailReceiver,
  startWebhookReceiver,
  thresholds,
  until,
  type MailReceiver,
  type WebhookReceiver,
} from './budget-helpers.js';

describe('budgets', () => {
  let temp: { dir: string; cleanup: () => Promise<void> };
  let hook: WebhookReceiver;
  let mail: MailReceiver;
  before(async () => {
    temp = await makeTempDir();
    hook = await startWebhookReceiver();
    mail = await startMailReceiver();
  });
  after(async () => {
    await hook.close();
    await mail.close();
    await temp.cleanup();
  });

  it('alerts each threshold once by webhook and e-mail, keeps serving in alert mode, and not again after a restart', async () => {
    hook.received.length = 0;
    mail.mails.length = 0;
    const ledger = `sqlite:${join(temp.dir, 'alerts.db')}`;
    const config = budgetConfig(
      ledger,
      { monthlyTokens: 100 },
      {
        alerts: { webhook: hook.url },
        smtp: { host: '127.0.0.1', port: mail.port, from: 'tokenmeter <tm@example.com>' },
      },
    );
    let gw = await startBudgetGateway(config);
    // Calls one by one until the budget is overshot: alert mode never refuses.
    for (let i = 0; i < 20 && (gw.budgets?.ratios()[0]?.[1] ?? 0) < 1.2; i++) {
      assert.equal((await chat(gw)).status, 200);
    }
    await gw.budgets?.refresh();
    assert.deepEqual(thresholds(hook.received), [50, 80, 100]);
    assert.equal(mail.mails.length, 3);
    assert.ok(mail.mails.every((m) => m.to === 'lead@team-a.example'));
    const first = hook.received[0];
    assert.equal(first?.['subscription'], 'team-a');
    assert.equal(first?.['unit'], 'tokens');
    assert.equal(first?.['limit'], 100);
    assert.equal(first?.['month'], budgetMonthOf(Date.now(), 'UTC').month);
    await gw.budgets?.refresh();
    await gw.close();

    gw = await startBudgetGateway(config);
    assert.equal((await chat(gw)).status, 200);
    await gw.budgets?.refresh();
    await gw.budgets?.refresh();
    await gw.close();
    assert.equal(hook.received.length, 3);
    assert.equal(mail.mails.length, 3);
  });

  it('blocks a used-up budget with 429 TM_BUDGET_EXCEEDED: nothing forwarded or billed; the metric shows the ratio', async () => {
    const gw = await startBudgetGateway(
      budgetConfig(
        `sqlite:${join(temp.dir, 'block.db')}`,
        { monthlyTokens: 40, onExceeded: 'block' },
        {
          apis: [
            { id: 'openai', path: '/openai/v1', type: 'openai', backend: 'sim' },
            { id: 'claude', path: '/anthropic', type: 'anthropic', backend: 'sim' },
          ],
          products: [{ id: 'p', apis: ['openai', 'claude'] }],
        },
      ),
    );
    try {
      let refused: Awaited<ReturnType<typeof chat>> | undefined;
      for (let i = 0; i < 20 && refused === undefined; i++) {
        const answer = await chat(gw);
        if (answer.status !== 200) refused = answer;
      }
      assert.equal(refused?.status, 429);
      assert.equal(refused?.body.error?.code, 'TM_BUDGET_EXCEEDED');
      const forwarded = gw.simulators.get('sim')?.stats().requests;
      const billed = await gw.ledger.count();
      assert.equal((await chat(gw)).status, 429);
      assert.equal(gw.simulators.get('sim')?.stats().requests, forwarded);
      assert.equal(await gw.ledger.count(), billed);
      // count_tokens is never metered: it costs no tokens and stays open over budget.
      const counted = await fetch(`${gw.url}/anthropic/v1/messages/count_tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': KEY, 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(counted.status, 200);
      assert.equal(await gw.ledger.count(), billed);
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      const ratio = /^tokenmeter_budget_used_ratio\{subscription="team-a"\} (\S+)$/m.exec(metrics)?.[1];
      assert.ok(Number(ratio) >= 1, `ratio ${ratio}`);
    } finally {
      await gw.close();
    }
  });

  it('two gateways sharing a ledger: usage on one blocks the other within the refresh; each alert fires once in total', async () => {
    hook.received.length = 0;
    const config = budgetConfig(
      `sqlite:${join(temp.dir, 'shared.db')}`,
      { monthlyTokens: 40, onExceeded: 'block' },
      { alerts: { webhook: hook.url, email: false } },
    );
    const a = await startBudgetGateway(config);
    const b = await startBudgetGateway(config);
    try {
      for (let i = 0; i < 20 && (await chat(a)).status === 200; i++);
      assert.equal((await chat(a)).status, 429);
      await until(async () => (await chat(b)).status === 429, 2000);
      await Promise.all([a.budgets?.refresh(), b.budgets?.refresh()]);
      await Promise.all([a.budgets?.refresh(), b.budgets?.refresh()]);
      assert.deepEqual(thresholds(hook.received), [50, 80, 100]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a month boundary in reports.timezone lifts a block at once', async () => {
    let frozen: number | undefined;
    const clock = (): number => frozen ?? Date.now();
    const timezone = 'Pacific/Kiritimati'; // UTC+14: its months start on another UTC day
    const gw = await startBudgetGateway(
      budgetConfig(
        `sqlite:${join(temp.dir, 'month.db')}`,
        { monthlyTokens: 40, onExceeded: 'block' },
        { reports: { timezone } },
      ),
      clock,
    );
    try {
      for (let i = 0; i < 20 && (await chat(gw)).status === 200; i++);
      assert.equal((await chat(gw)).status, 429);
      const month = budgetMonthOf(Date.now(), timezone);
      frozen = month.until - 1;
      assert.equal((await chat(gw)).status, 429);
      frozen = month.until;
      assert.equal((await chat(gw)).status, 200);
      await gw.budgets?.refresh();
      assert.deepEqual(gw.budgets?.ratios(), [['team-a', 0]]);
    } finally {
      await gw.close();
    }
  });

  it('a webhook that fails is retried on a later refresh; nothing is marked sent before it succeeded', async () => {
    hook.received.length = 0;
    hook.failing = true;
    const path = join(temp.dir, 'retry.db');
    const gw = await startBudgetGateway(
      budgetConfig(
        `sqlite:${path}`,
        { monthlyTokens: 1000, alertAt: [1] },
        { alerts: { webhook: hook.url } },
      ),
    );
    try {
      assert.equal((await chat(gw)).status, 200);
      const attempts = hook.attempts;
      await gw.budgets?.refresh();
      assert.ok(hook.attempts > attempts);
      const sentAt = (): unknown => {
        const db = new Database(path, { readonly: true });
        try {
          return db.prepare('SELECT sent_at FROM budget_alerts').pluck().get();
        } finally {
          db.close();
        }
      };
      assert.equal(sentAt(), null);
      hook.failing = false;
      await gw.budgets?.refresh();
      assert.deepEqual(thresholds(hook.received), [1]);
      assert.equal(typeof sentAt(), 'number');
    } finally {
      hook.failing = false;
      await gw.close();
    }
  });

  it('ledger claims: one claimant, released on failure, sent for good, a stale claim taken over', async () => {
    const ledger = createSqliteLedger(join(temp.dir, 'claims.db'));
    const key = {
      subscription: 's',
      month: '2026-01',
      unit: 'tokens',
      threshold: 50,
      channel: 'webhook',
    } as const;
    try {
      const first = await ledger.claimBudgetAlert(key, 1000, 60_000);
      assert.equal(first.state, 'claimed');
      assert.equal((await ledger.claimBudgetAlert(key, 2000, 60_000)).state, 'busy');
      const stale = await ledger.claimBudgetAlert(key, 1000 + 60_000, 60_000);
      assert.equal(stale.state, 'claimed');
      if (first.state !== 'claimed' || stale.state !== 'claimed') return;
      // The first claimant lost its claim: its settlement changes nothing.
      await ledger.settleBudgetAlert(key, first.claim, true, 70_000);
      assert.equal((await ledger.claimBudgetAlert(key, 70_001, 60_000)).state, 'busy');
      await ledger.settleBudgetAlert(key, stale.claim, false, 70_002);
      const again = await ledger.claimBudgetAlert(key, 70_003, 60_000);
      assert.equal(again.state, 'claimed');
      if (again.state === 'claimed') await ledger.settleBudgetAlert(key, again.claim, true, 70_004);
      assert.equal((await ledger.claimBudgetAlert(key, 999_999, 60_000)).state, 'sent');
    } finally {
      await ledger.close();
    }
  });

  it('months follow reports.timezone', () => {
    const berlin = budgetMonthOf(Date.parse('2026-03-31T22:30:00Z'), 'Europe/Berlin');
    assert.equal(berlin.month, '2026-04');
    assert.equal(new Date(berlin.since).toISOString(), '2026-03-31T22:00:00.000Z');
    assert.equal(new Date(berlin.until).toISOString(), '2026-04-30T22:00:00.000Z');
    assert.equal(budgetMonthOf(Date.parse('2026-03-31T22:30:00Z'), 'UTC').month, '2026-03');
  });
});
