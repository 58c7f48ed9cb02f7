import { randomUUID } from 'node:crypto';
import type { BudgetAlertClaim, BudgetAlertKey, Ledger, ReportDeliveryKey } from '../ledger.js';
import type { PgSql } from './pg-connect.js';
import { describePgPool, withPgErrors } from './pg-errors.js';

/** The ledger's claims (budget alerts, report deliveries) on PostgreSQL (schema migration 2). */
export type PgClaims = Pick<
  Ledger,
  'claimBudgetAlert' | 'settleBudgetAlert' | 'claimReportDelivery' | 'settleReportDelivery'
>;

/**
 * Claims on the shared ledger, with the semantics of the SQLite ledger's (ledger.ts,
 * sqlite-ledger.ts). `ready` resolves once the schema is migrated.
 *
 * A claim is one `INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING`: PostgreSQL inserts the
 * row, or locks the existing one and re-checks the condition on its latest committed version,
 * so of several gateways claiming at once exactly one gets a row back. The others then read
 * whether it was sent (`sent`) or is held (`busy`). Settling matches the claim token, so a
 * gateway whose lease ran out and was taken over settles nothing. Connection failures reject
 * with TM_LEDGER_UNAVAILABLE (pg-errors.ts); the budget tracker retries on its next check.
 */
export function createPgClaims(sql: PgSql, ready: Promise<unknown>): PgClaims {
  const server = describePgPool(sql);
  const run = <T>(work: () => Promise<T>): Promise<T> =>
    withPgErrors(server, async () => {
      await ready;
      return work();
    });

  async function claimAlert(a: BudgetAlertKey, now: number, leaseMs: number): Promise<BudgetAlertClaim> {
    const claim = randomUUID();
    // A new row, or an unsent one whose claim was released (claimed_at 0) or whose lease ran out.
    const won = await sql`
      INSERT INTO budget_alerts (subscription, month, unit, threshold, channel, claim, claimed_at)
      VALUES (${a.subscription}, ${a.month}, ${a.unit}, ${a.threshold}, ${a.channel}, ${claim}, ${now})
      ON CONFLICT (subscription, month, unit, threshold, channel) DO UPDATE
        SET claim = excluded.claim, claimed_at = excluded.claimed_at
        WHERE budget_alerts.sent_at IS NULL AND budget_alerts.claimed_at <= ${now - leaseMs}
      RETURNING 1`;
    if (won.length === 1) return { state: 'claimed', claim };
    const [row] = await sql<{ sent_at: number | null }[]>`
      SELECT sent_at FROM budget_alerts
      WHERE subscription = ${a.subscription} AND month = ${a.month} AND unit = ${a.unit}
        AND threshold = ${a.threshold} AND channel = ${a.channel}`;
    return typeof row?.sent_at === 'number' ? { state: 'sent' } : { state: 'busy' };
  }

  async function settleAlert(
    a: BudgetAlertKey,
    claim: string,
    delivered: boolean,
    now: number,
  ): Promise<void> {
    if (delivered)
      await sql`UPDATE budget_alerts SET sent_at = ${now}
        WHERE subscription = ${a.subscription} AND month = ${a.month} AND unit = ${a.unit}
          AND threshold = ${a.threshold} AND channel = ${a.channel} AND claim = ${claim}`;
    else
      await sql`UPDATE budget_alerts SET claim = NULL, claimed_at = 0
        WHERE subscription = ${a.subscription} AND month = ${a.month} AND unit = ${a.unit}
          AND threshold = ${a.threshold} AND channel = ${a.channel} AND claim = ${claim}
          AND sent_at IS NULL`;
  }

  async function claimDelivery(
    d: ReportDeliveryKey,
    now: number,
    leaseMs: number,
    force: boolean,
  ): Promise<BudgetAlertClaim> {
    const claim = randomUUID();
    // As claimAlert; with `force` a delivered row is taken over too, unless another claim on it
    // is still within its lease.
    const won = await sql`
      INSERT INTO report_deliveries (month, channel, recipient, claim, claimed_at)
      VALUES (${d.month}, ${d.channel}, ${d.recipient}, ${claim}, ${now})
      ON CONFLICT (month, channel, recipient) DO UPDATE
        SET claim = excluded.claim, claimed_at = excluded.claimed_at
        WHERE (report_deliveries.sent_at IS NULL OR ${force}::boolean)
          AND report_deliveries.claimed_at <= ${now - leaseMs}
      RETURNING 1`;
    if (won.length === 1) return { state: 'claimed', claim };
    const [row] = await sql<{ sent_at: number | null }[]>`
      SELECT sent_at FROM report_deliveries
      WHERE month = ${d.month} AND channel = ${d.channel} AND recipient = ${d.recipient}`;
    return typeof row?.sent_at === 'number' ? { state: 'sent' } : { state: 'busy' };
  }

  async function settleDelivery(
    d: ReportDeliveryKey,
    claim: string,
    delivered: boolean,
    now: number,
  ): Promise<void> {
    // A delivered row drops its claim so that `--force` can take it over at once; a failed
    // forced resend keeps the earlier sent_at: that delivery did happen.
    if (delivered)
      await sql`UPDATE report_deliveries SET sent_at = ${now}, claim = NULL, claimed_at = 0
        WHERE month = ${d.month} AND channel = ${d.channel} AND recipient = ${d.recipient}
          AND claim = ${claim}`;
    else
      await sql`UPDATE report_deliveries SET claim = NULL, claimed_at = 0
        WHERE month = ${d.month} AND channel = ${d.channel} AND recipient = ${d.recipient}
          AND claim = ${claim}`;
  }

  return {
    claimBudgetAlert: (alert, now, leaseMs) => run(() => claimAlert(alert, now, leaseMs)),
    settleBudgetAlert: (alert, claim, delivered, now) => run(() => settleAlert(alert, claim, delivered, now)),
    claimReportDelivery: (delivery, now, leaseMs, force) =>
      run(() => claimDelivery(delivery, now, leaseMs, force)),
    settleReportDelivery: (delivery, claim, delivered, now) =>
      run(() => settleDelivery(delivery, claim, delivered, now)),
  };
}
