import type { SmtpConfig } from '../config/schema.js';
import { createMailTransport, describeDeliveryError } from '../delivery/mail-transport.js';
import { postJson } from '../delivery/webhook-post.js';
import type { Ledger, ReportDeliveryKey } from '../ledger/ledger.js';
import type { ChargebackReport, ReportRow } from './chargeback-report.js';
import { formatReport, toReportJsonRow } from './report-format.js';

/** Where a month's reports go: `smtp` e-mails owners, `webhook` receives every row. */
export interface ReportDestinations {
  smtp?: SmtpConfig | undefined;
  webhook?: string | undefined;
}

/** What happened to one delivery (or one subscription that had none). */
export type DeliveryOutcome =
  | { state: 'sent'; channel: 'email' | 'webhook'; recipient: string; address: string }
  | { state: 'already-sent'; channel: 'email' | 'webhook'; recipient: string }
  /** Another gateway or `--send` holds a live claim on it: its outcome is theirs. */
  | { state: 'busy'; channel: 'email' | 'webhook'; recipient: string }
  /** `error` is safe to print (never the SMTP password). */
  | { state: 'failed'; channel: 'email' | 'webhook'; recipient: string; address: string; error: string }
  | { state: 'skipped'; channel: 'email'; recipient: string; reason: string };

// nodemailer's codes for a server that cannot be reached at all (not a refused recipient).
const UNREACHABLE_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS']);

function isUnreachable(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && UNREACHABLE_CODES.has(code);
}

/** How long a claim keeps other senders off one delivery (longer than any delivery takes). */
export const DELIVERY_LEASE_MS = 5 * 60_000;

/** The JSON the webhook receives: the month, its zone and every row as `report --format json`. */
export interface ReportWebhookBody {
  month: string;
  timeZone: string;
  rows: ReturnType<typeof toReportJsonRow>[];
}

/**
 * The report as one subscription's owner sees it: that row only, as its own total, and nothing
 * about other teams (not even unused capacity, which is not theirs to pay).
 */
export function restrictReport(report: ChargebackReport, row: ReportRow): ChargebackReport {
  return {
    ...report,
    rows: [row],
    total: { ...row, group: null, owner: null, costCenter: null },
    unallocatedCapacity: [],
  };
}

/** The e-mail of one subscription's owner: the html report, its csv, a plain-text fallback. */
function ownerMail(report: ChargebackReport, row: ReportRow, smtp: SmtpConfig, to: string) {
  const own = restrictReport(report, row);
  const subscription = row.group ?? '';
  return {
    from: smtp.from,
    to,
    subject: `tokenmeter chargeback report ${report.month}: ${subscription}`,
    text: `${formatReport(own, 'md')}\n`,
    html: formatReport(own, 'html'),
    attachments: [
      {
        filename: `tokenmeter-${report.month}-${subscription.replace(/[^A-Za-z0-9._-]/g, '_')}.csv`,
        content: `${formatReport(own, 'csv')}\r\n`,
        contentType: 'text/csv; charset=utf-8',
      },
    ],
  };
}

/**
 * Delivers a month's report (grouped by subscription): an e-mail per subscription with an
 * owner, to that owner, holding only that subscription's row (html body, csv attachment); and,
 * when `webhook` is set, one POST of every row. Each delivery is claimed in the ledger first and
 * recorded only once it succeeded, so it goes out once per month across gateways and runs; a
 * failed one is released and retried by the next run; `force` sends delivered ones again.
 * Never throws for a failed delivery: it is an outcome. Rows without a subscription id, or whose
 * subscription has no owner, are `skipped`.
 */
export async function deliverMonthReport(
  ledger: Pick<Ledger, 'claimReportDelivery' | 'settleReportDelivery'>,
  report: ChargebackReport,
  destinations: ReportDestinations,
  options: { force: boolean; now: () => number },
): Promise<DeliveryOutcome[]> {
  const outcomes: DeliveryOutcome[] = [];
  // Set once the SMTP server could not be reached: the other e-mails fail at once with the same
  // reason instead of each waiting out its own connection timeout.
  let unreachable: string | undefined;
  const attempt = async (key: ReportDeliveryKey, address: string, send: () => Promise<unknown>) => {
    const claim = await ledger.claimReportDelivery(key, options.now(), DELIVERY_LEASE_MS, options.force);
    if (claim.state === 'sent') return void outcomes.push({ state: 'already-sent', ...key });
    if (claim.state === 'busy') return void outcomes.push({ state: 'busy', ...key });
    let error: string | undefined = key.channel === 'email' ? unreachable : undefined;
    if (error === undefined) {
      try {
        await send();
      } catch (err) {
        error = describeDeliveryError(err, destinations.smtp);
        if (key.channel === 'email' && isUnreachable(err)) unreachable = error;
      }
    }
    await ledger.settleReportDelivery(key, claim.claim, error === undefined, options.now());
    outcomes.push(
      error === undefined ? { state: 'sent', ...key, address } : { state: 'failed', ...key, address, error },
    );
  };

  const { smtp, webhook } = destinations;
  if (smtp !== undefined) {
    const transport = createMailTransport(smtp);
    try {
      for (const row of report.rows) {
        const recipient = row.group ?? '';
        if (row.group === null) {
          outcomes.push({
            state: 'skipped',
            channel: 'email',
            recipient,
            reason: 'records without a subscription',
          });
          continue;
        }
        const owner = row.owner;
        if (owner === null || owner === '') {
          outcomes.push({ state: 'skipped', channel: 'email', recipient, reason: 'no owner' });
          continue;
        }
        await attempt({ month: report.month, channel: 'email', recipient }, owner, () =>
          transport.sendMail(ownerMail(report, row, smtp, owner)),
        );
      }
    } finally {
      transport.close();
    }
  }
  if (webhook !== undefined) {
    const body: ReportWebhookBody = {
      month: report.month,
      timeZone: report.timeZone,
      rows: report.rows.map((r) => toReportJsonRow(report.groupKey, r)),
    };
    await attempt({ month: report.month, channel: 'webhook', recipient: '' }, 'reports.webhook', () =>
      postJson(webhook, body),
    );
  }
  return outcomes;
}
