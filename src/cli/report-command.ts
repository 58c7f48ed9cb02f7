import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { findDefaultConfigPath } from '../config/default-config.js';
import type { Config } from '../config/schema.js';
import type { Ledger } from '../ledger/ledger.js';
import type { ChargebackReport, ReportGrouping } from '../reports/chargeback-report.js';
import { parseCalendarMonth, type CalendarMonth } from '../reports/month-range.js';
import { buildMonthReport } from '../reports/month-report.js';
import { parseGrouping as parseReportGrouping } from '../reports/report-grouping.js';
import { deliverMonthReport, type DeliveryOutcome } from '../reports/report-delivery.js';
import { formatReport, parseReportFormat } from '../reports/report-format.js';
import { resolveUsageQuery } from '../reports/usage-query.js';
import { CliFailure, CliInputError } from './cli-error.js';
import { loadCliConfig } from './config-file.js';
import { asCliInput, checkCustomDimensionsKnown, openExistingLedger } from './usage-command.js';

/** Where the command writes; tests replace it. */
export interface ReportCommandIo {
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  /** The wall clock delivery records carry (tests). */
  now?: () => number;
}

interface ReportOptions {
  month: string;
  config?: string;
  ledger?: string;
  by: string;
  format: string;
  out?: string;
  send?: boolean;
  force?: boolean;
}

/** `--by` (see reports/report-grouping.ts). Throws CliInputError. */
export function parseGrouping(text: string): ReportGrouping {
  return asCliInput(() => parseReportGrouping(text));
}

/** The configuration: --config, else ./tokenmeter.yaml, else none when --ledger says where to read. */
function loadReportConfig(opts: ReportOptions): Config | undefined {
  if (
    opts.config === undefined &&
    opts.ledger !== undefined &&
    findDefaultConfigPath(process.cwd()) === undefined
  )
    return undefined;
  return loadCliConfig(opts.config);
}

async function runReport(opts: ReportOptions, io: ReportCommandIo): Promise<void> {
  // All input is checked before the ledger is touched, so bad input never opens or creates a file.
  const month: CalendarMonth = parseCalendarMonth(opts.month);
  const format = parseReportFormat(opts.format);
  const grouping = parseGrouping(opts.by);
  const config = loadReportConfig(opts);
  if (opts.force === true && opts.send !== true) throw new CliInputError('--force needs --send');
  if (opts.send === true) {
    if (grouping.kind !== 'dimension' || grouping.key !== 'subscription')
      throw new CliInputError('--send delivers one report per subscription: drop --by');
    if (opts.out !== undefined)
      throw new CliInputError('--send delivers by e-mail and webhook, not to a file: drop --out');
    if (config?.smtp === undefined && config?.reports.webhook === undefined)
      throw new CliInputError('--send needs smtp (to e-mail owners) or reports.webhook in the configuration');
  }
  const ledgerUrl = opts.ledger ?? config?.ledger;
  if (ledgerUrl === undefined) throw new CliInputError('no ledger: pass --ledger URL or --config FILE');

  const ledger = openExistingLedger(ledgerUrl);
  let report: ChargebackReport;
  let outcomes: DeliveryOutcome[] | undefined;
  try {
    if (grouping.kind === 'dimension') {
      const known = new Set(
        (config?.tokenMetrics ?? []).flatMap((m) =>
          m.dimensions.flatMap((d) => (typeof d === 'string' ? [] : [d.name])),
        ),
      );
      for (const name of (await ledger?.customDimensionNames()) ?? []) known.add(name);
      checkCustomDimensionsKnown(
        asCliInput(() => resolveUsageQuery({ by: [grouping.name], where: [] })),
        known,
      );
    }
    report = await buildMonthReport(ledger ?? EMPTY_LEDGER, ledgerUrl, config, month, grouping);
    // A ledger file that does not exist has no usage, so nothing to deliver and nothing to record.
    if (opts.send === true && ledger !== undefined)
      outcomes = await deliverMonthReport(
        ledger,
        report,
        { smtp: config?.smtp, webhook: config?.reports.webhook },
        { force: opts.force === true, now: io.now ?? Date.now },
      );
  } finally {
    await ledger?.close();
  }
  const stdout = io.stdout ?? ((t: string) => void process.stdout.write(t));
  if (opts.send === true) {
    reportDeliveries(
      report.month,
      outcomes ?? [],
      stdout,
      io.stderr ?? ((t) => void process.stderr.write(t)),
    );
    return;
  }
  const text = `${formatReport(report, format)}${format === 'csv' ? '\r\n' : '\n'}`;
  if (opts.out !== undefined) await writeFile(opts.out, text);
  else stdout(text);
}

// A ledger that does not exist yet reads as empty (buildMonthReport only queries it).
const EMPTY_LEDGER: Pick<Ledger, 'query'> = { query: () => Promise.resolve([]) };

/**
 * Prints what `--send` did, one line per delivery: sent, already sent, skipped on stdout, failed
 * and busy on stderr. Throws CliFailure (exit 1) when any delivery did not go out.
 */
function reportDeliveries(
  month: string,
  outcomes: readonly DeliveryOutcome[],
  stdout: (text: string) => void,
  stderr: (text: string) => void,
): void {
  const name = (o: DeliveryOutcome): string =>
    o.channel === 'webhook' ? 'webhook' : `e-mail for ${JSON.stringify(o.recipient)}`;
  const attempted = outcomes.filter((o) => o.state !== 'skipped');
  if (attempted.length > 0 && attempted.every((o) => o.state === 'already-sent')) {
    stdout(`report ${month} was already sent; nothing sent (use --force to send it again)\n`);
  } else {
    for (const o of outcomes) {
      if (o.state === 'sent') stdout(`sent ${name(o)} to ${JSON.stringify(o.address)}\n`);
      else if (o.state === 'already-sent') stdout(`already sent ${name(o)}\n`);
      else if (o.state === 'busy') stderr(`not sent ${name(o)}: another process is sending it\n`);
      else if (o.state === 'failed')
        stderr(`failed ${name(o)} to ${JSON.stringify(o.address)}: ${o.error}\n`);
    }
  }
  for (const o of outcomes)
    if (o.state === 'skipped') stdout(`skipped e-mail for ${JSON.stringify(o.recipient)}: ${o.reason}\n`);
  if (outcomes.length === 0) stdout(`report ${month}: no usage, nothing to send\n`);
  const failed = outcomes.filter((o) => o.state === 'failed' || o.state === 'busy').length;
  if (failed > 0)
    throw new CliFailure(
      `${failed} of ${attempted.length} deliveries of report ${month} did not go out; run report --send again to retry them`,
    );
}

/**
 * Registers `tokenmeter report --month YYYY-MM [--config F] [--ledger URL] [--by DIM]
 * [--format md|csv|json|html] [--out FILE] [--send [--force]]` (issue #9, items 4 and 5). The month is
 * [local midnight of day 1, local midnight of the next month's day 1) in `reports.timezone`
 * (default UTC). Bad input throws CliInputError (exit 2) before the ledger is opened; a ledger
 * file that does not exist yet reports an empty month (nothing is created). `--send` delivers
 * instead of printing (deliverMonthReport): once per month and recipient unless `--force`; a
 * failed delivery is named on stderr and throws CliFailure (exit 1), and the next run retries it.
 */
export function addReportCommand(program: Command, io: ReportCommandIo = {}): Command {
  return program
    .command('report')
    .description('monthly chargeback report: tokens, cost and capacity share per subscription')
    .requiredOption('--month <YYYY-MM>', 'the month to report (in reports.timezone, default UTC)')
    .option('--config <file>', 'configuration file (default: ./tokenmeter.yaml when present)')
    .option('--ledger <url>', 'ledger URL (sqlite:PATH), instead of the one in the configuration')
    .option(
      '--by <dim>',
      'one row per: subscription, costCenter, owner, or a usage dimension',
      'subscription',
    )
    .option('--format <format>', 'md, csv, json or html', 'md')
    .option('--out <file>', 'write the report to this file instead of stdout')
    .option('--send', "e-mail each subscription's owner its report and POST all rows to reports.webhook")
    .option('--force', 'with --send: send again what was already sent for this month')
    .action((opts: ReportOptions) => runReport(opts, io));
}
