import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { openKeyStore } from '../auth/open-key-store.js';
import { findDefaultConfigPath } from '../config/default-config.js';
import type { Config } from '../config/schema.js';
import type { Ledger } from '../ledger/ledger.js';
import {
  buildChargebackReport,
  type ChargebackReport,
  type ReportGrouping,
  type SubscriptionParty,
} from '../reports/chargeback-report.js';
import { monthRange, parseCalendarMonth, type CalendarMonth } from '../reports/month-range.js';
import { formatReport, parseReportFormat } from '../reports/report-format.js';
import { resolveUsageQuery } from '../reports/usage-query.js';
import { CliInputError } from './cli-error.js';
import { loadCliConfig } from './config-file.js';
import { asCliInput, checkCustomDimensionsKnown, openExistingLedger } from './usage-command.js';

/** Where the command writes; tests replace it. */
export interface ReportCommandIo {
  stdout?: (text: string) => void;
}

interface ReportOptions {
  month: string;
  config?: string;
  ledger?: string;
  by: string;
  format: string;
  out?: string;
}

/**
 * `--by`: `costCenter` / `owner` (properties of the subscription), else one dimension as
 * `usage --by` takes it. Throws CliInputError.
 */
export function parseGrouping(text: string): ReportGrouping {
  const name = text.trim();
  const lower = name.toLowerCase().replaceAll(' ', '');
  if (lower === 'costcenter') return { kind: 'property', property: 'costCenter', key: 'costCenter' };
  if (lower === 'owner') return { kind: 'property', property: 'owner', key: 'owner' };
  if (name === '' || name.includes(','))
    throw new CliInputError(
      `invalid --by ${JSON.stringify(text)}: expected one dimension, costCenter or owner`,
    );
  const [dimension] = asCliInput(() => resolveUsageQuery({ by: [name], where: [] })).by;
  if (dimension === undefined) throw new CliInputError(`invalid --by ${JSON.stringify(text)}`);
  return { kind: 'dimension', name, key: dimension.output };
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

/**
 * Owner and cost center of every subscription with usage in the window: the YAML entry, else
 * the managed subscription (`tokenmeter keys create --owner … --cost-center …`).
 */
async function loadParties(
  ledger: Ledger,
  ledgerUrl: string,
  config: Config | undefined,
  range: { since: number; until: number },
): Promise<Map<string, SubscriptionParty>> {
  const parties = new Map<string, SubscriptionParty>();
  for (const s of config?.subscriptions ?? [])
    parties.set(s.id, { owner: s.owner, costCenter: s.costCenter });
  const used = await ledger.query({ by: ['subscription'], ...range, where: [] });
  const missing = used
    .map((r) => r['subscription'])
    .filter((id): id is string => typeof id === 'string' && !parties.has(id));
  if (missing.length === 0) return parties;
  const store = openKeyStore(ledgerUrl, { fileMustExist: true });
  try {
    for (const id of missing) {
      const managed = await store?.subscription(id);
      if (managed !== undefined) parties.set(id, { owner: managed.owner, costCenter: managed.costCenter });
    }
  } finally {
    await store?.close();
  }
  return parties;
}

async function runReport(opts: ReportOptions, io: ReportCommandIo): Promise<void> {
  // All input is checked before the ledger is touched, so bad input never opens or creates a file.
  const month: CalendarMonth = parseCalendarMonth(opts.month);
  const format = parseReportFormat(opts.format);
  const grouping = parseGrouping(opts.by);
  const config = loadReportConfig(opts);
  const timeZone = config?.reports.timezone ?? 'UTC';
  const range = monthRange(month, timeZone);
  const ledgerUrl = opts.ledger ?? config?.ledger;
  if (ledgerUrl === undefined) throw new CliInputError('no ledger: pass --ledger URL or --config FILE');
  const capacity = (config?.backends ?? []).flatMap((b) =>
    b.monthlyCost !== undefined && b.monthlyCost > 0 ? [{ id: b.id, monthlyCost: b.monthlyCost }] : [],
  );
  const empty = { query: () => Promise.resolve([]) };

  const ledger = openExistingLedger(ledgerUrl);
  let report: ChargebackReport;
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
    const parties =
      ledger === undefined
        ? new Map<string, SubscriptionParty>()
        : await loadParties(ledger, ledgerUrl, config, range);
    report = await buildChargebackReport({
      ledger: ledger ?? empty,
      month,
      timeZone,
      range,
      grouping,
      parties,
      capacity,
    });
  } finally {
    await ledger?.close();
  }
  const text = `${formatReport(report, format)}${format === 'csv' ? '\r\n' : '\n'}`;
  if (opts.out !== undefined) await writeFile(opts.out, text);
  else (io.stdout ?? ((t: string) => void process.stdout.write(t)))(text);
}

/**
 * Registers `tokenmeter report --month YYYY-MM [--config F] [--ledger URL] [--by DIM]
 * [--format md|csv|json|html] [--out FILE]` (issue #9, item 4, without delivery). The month is
 * [local midnight of day 1, local midnight of the next month's day 1) in `reports.timezone`
 * (default UTC). Bad input throws CliInputError (exit 2) before the ledger is opened; a ledger
 * file that does not exist yet reports an empty month (nothing is created).
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
    .action((opts: ReportOptions) => runReport(opts, io));
}
