import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { openLedger, parseLedgerUrl, SQLITE_MEMORY } from '../ledger/ledger.js';
import { createCallPricer } from '../pricing/call-pricer.js';
import { CliInputError } from './cli-error.js';
import { loadCliConfig } from './config-file.js';

/** Where the command writes; tests replace it. */
export interface RepriceCommandIo {
  stdout?: (text: string) => void;
}

/**
 * `YYYY-MM` → the month's bounds, epoch ms (UTC: `reports.timezone` is issue #9 item 4's).
 * Throws CliInputError (exit 2) naming the flag.
 */
export function parseMonth(text: string): { since: number; until: number } {
  const match = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(text.trim());
  if (match === null)
    throw new CliInputError(`invalid --month ${JSON.stringify(text)}: expected YYYY-MM, e.g. 2026-01`);
  const year = Number(match[1]);
  const month = Number(match[2]);
  return { since: Date.UTC(year, month - 1, 1), until: Date.UTC(year, month, 1) };
}

/**
 * Registers `tokenmeter reprice --month YYYY-MM [--config F]`: recomputes the stored cost of the
 * month's records with today's catalog, `pricing.overrides` and multipliers of the configuration,
 * each record at the prices in force at its time, and prints
 * `reprice YYYY-MM: N of M records changed`. A bad month or config exits 2 before the ledger is
 * opened; a ledger file that does not exist yet has no records (nothing is created).
 */
export function addRepriceCommand(program: Command, io: RepriceCommandIo = {}): Command {
  return program
    .command('reprice')
    .description("recompute the stored costs of a month's records after prices or overrides changed")
    .requiredOption('--month <YYYY-MM>', 'the month to reprice (UTC)')
    .option('--config <file>', 'configuration file (default: ./tokenmeter.yaml when present)')
    .action(async (opts: { month: string; config?: string }) => {
      const range = parseMonth(opts.month);
      const config = loadCliConfig(opts.config);
      const pricer = createCallPricer(config);
      const location = parseLedgerUrl(config.ledger);
      const missing =
        location.kind === 'sqlite' && location.path !== SQLITE_MEMORY && !existsSync(location.path);
      let result = { records: 0, changed: 0 };
      if (!missing) {
        const ledger = openLedger(config.ledger);
        try {
          result = await ledger.reprice(range, (record) =>
            pricer.costOf({
              backend: record.backend,
              subscription: record.subscription,
              model: record.model,
              responseModel: record.responseModel,
              time: record.time,
              usage: record,
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
