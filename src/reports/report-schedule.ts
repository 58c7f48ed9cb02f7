import type { Logger } from 'pino';
import { budgetMonthOf } from '../budgets/budget-month.js';
import type { Config } from '../config/schema.js';
import type { Ledger } from '../ledger/ledger.js';
import { parseCalendarMonth } from './month-range.js';
import { buildMonthReport } from './month-report.js';
import { deliverMonthReport } from './report-delivery.js';

/** How often `serve` looks whether last month's reports are due (and at start-up). */
export const REPORT_CHECK_MS = 60 * 60_000;

/** What `startReportSchedule` needs; `clock` and `checkMs` are for tests. */
export interface ReportScheduleOptions {
  config: Config;
  ledger: Ledger;
  ledgerUrl: string;
  log: Logger;
  clock?: () => number;
  checkMs?: number;
}

/** A running monthly report schedule. */
export interface ReportSchedule {
  /** Runs one check now (or joins the one running) and resolves when it is done. */
  check(): Promise<void>;
  /** Stops the timer and waits for a check in flight. */
  close(): Promise<void>;
}

/** Whether `time` falls on the 1st of a month in `timeZone`. */
function isFirstOfMonth(time: number, timeZone: string): boolean {
  return new Intl.DateTimeFormat('en-US', { timeZone, day: 'numeric' }).format(time) === '1';
}

/**
 * `reports.schedule: monthly` (issue #9 item 5): on the 1st of a month in `reports.timezone`,
 * delivers last month's reports as `report --send` does (deliverMonthReport). Checked at start
 * and every `checkMs` on an unref'd timer, so it never keeps the process alive. Once across
 * gateways sharing the ledger: every delivery is claimed there first, recorded once it succeeded,
 * and released for the next check when it failed. Only on the 1st: a gateway started later in the
 * month does not send last month's reports unasked (`report --send` does). Never throws: a
 * failed check is logged and the next one retries. Returns undefined when no schedule is set.
 */
export function startReportSchedule(options: ReportScheduleOptions): ReportSchedule | undefined {
  const { config, ledger, ledgerUrl, log } = options;
  if (config.reports.schedule !== 'monthly') return undefined;
  const destinations = { smtp: config.smtp, webhook: config.reports.webhook };
  if (destinations.smtp === undefined && destinations.webhook === undefined) {
    log.warn('reports.schedule is monthly but neither smtp nor reports.webhook is set: nothing will be sent');
    return undefined;
  }
  const clock = options.clock ?? Date.now;
  const timeZone = config.reports.timezone;
  // The month whose deliveries all went out: later checks on the same 1st skip the work.
  let done: string | undefined;
  let running: Promise<void> | undefined;

  async function runCheck(): Promise<void> {
    const now = clock();
    if (!isFirstOfMonth(now, timeZone)) return;
    const month = budgetMonthOf(budgetMonthOf(now, timeZone).since - 1, timeZone).month;
    if (done === month) return;
    const report = await buildMonthReport(ledger, ledgerUrl, config, parseCalendarMonth(month));
    const outcomes = await deliverMonthReport(ledger, report, destinations, { force: false, now: clock });
    for (const o of outcomes) {
      if (o.state === 'sent')
        log.info({ month, channel: o.channel, subscription: o.recipient }, 'report sent');
      else if (o.state === 'failed')
        log.warn(
          { month, channel: o.channel, subscription: o.recipient, error: o.error },
          'report delivery failed; retried at the next check',
        );
    }
    if (outcomes.every((o) => o.state !== 'failed' && o.state !== 'busy')) done = month;
  }

  const check = (): Promise<void> => {
    running ??= runCheck()
      .catch((err: unknown) => log.warn({ err }, 'monthly report check failed; retried at the next check'))
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  const timer = setInterval(() => void check(), options.checkMs ?? REPORT_CHECK_MS).unref();
  void check();
  return {
    check,
    close: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
