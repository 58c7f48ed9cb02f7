import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { openLedger, parseLedgerUrl, SQLITE_MEMORY } from '../ledger/ledger.js';
import { createCallPricer } from '../pricing/call-pricer.js';
import { monthRange, parseCalendarMonth } from '../reports/month-range.js';
import { loadCliConfig } from './config-file.js';
import { showRollupBuild } from './rollup-build-progress.js';

/** Where the command writes; tests replace it. */
export interface RepriceCommandIo {
  stdout?: (text: string) => void;
}

/**
 * Registers `tokenmeter reprice --month YYYY-MM [--config F]`: recomputes the stored cost of the
 * month's records (the month in `reports.timezone`, as reports count it) with today's catalog, `pricing.overrides` and multipliers of the configuration,
 * each record at the prices in force at its time, and prints
 * `reprice YYYY-MM: N of M records changed`. A bad month or config exits 2 before the ledger is
 * opened; a ledger file that does not exist yet has no records (nothing is created).
 */
export function addRepriceCommand(program: Command, io: RepriceCommandIo = {}): Command {
  return program
    .command('reprice')
    .description("recompute the stored costs of a month's records after prices or overrides changed")
    .requiredOption('--month <YYYY-MM>', 'the month to reprice (in reports.timezone, default UTC)')
    .option('--config <file>', 'configuration file (default: ./tokenmeter.yaml when present)')
    .action(async (opts: { month: string; config?: string }) => {
      const month = parseCalendarMonth(opts.month);
      const config = loadCliConfig(opts.config);
      // The same month as `report --month`: repricing it changes exactly what that report shows.
      const range = monthRange(month, config.reports.timezone);
      const pricer = createCallPricer(config);
      const location = parseLedgerUrl(config.ledger);
      const missing =
        location.kind === 'sqlite' && location.path !== SQLITE_MEMORY && !existsSync(location.path);
      let result = { records: 0, changed: 0 };
      if (!missing) {
        const ledger = openLedger(config.ledger, { onRollupBuild: showRollupBuild() });
        try {
          result = await ledger.reprice(range, (record) =>
            pricer.costOf({
              backend: record.backend,
              subscription: record.subscription,
              model: record.model,
              responseModel: record.responseModel,
              time: record.time,
              usage: record,
              tokenDetails: record.tokenDetails,
            }),
          );
        } finally {
          await ledger.close();
        }
      }
      const write = io.stdout ?? ((t: string) => void process.stdout.write(t));
      write(`reprice ${opts.month.trim()}: ${result.changed} of ${result.records} records changed\n`);
    });
}
