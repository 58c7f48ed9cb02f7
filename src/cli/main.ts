import { Command, CommanderError } from 'commander';
import { CliFailure, CliInputError } from './cli-error.js';
import { addConfigCommand } from './config-command.js';
import { addDashboardCommand } from './dashboard-command.js';
import { addDemoCommand } from './demo-command.js';
import { addKeysCommand } from './keys-command.js';
import { addLedgerCommand } from './ledger-command.js';
import { addRepriceCommand } from './reprice-command.js';
import { addReportCommand } from './report-command.js';
import { addServeCommand } from './serve-command.js';
import { addUsageCommand } from './usage-command.js';
import { resolveLedgerSource } from './config-file.js';

/** Builds the `tokenmeter` program (exported for in-process tests). */
export function createProgram(): Command {
  const program = new Command('tokenmeter')
    .description('Self-hosted LLM gateway that meters tokens per team, model, API and backend.')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) });
  addServeCommand(program);
  addDashboardCommand(program);
  addDemoCommand(program);
  addUsageCommand(program, resolveLedgerSource);
  addReportCommand(program);
  addRepriceCommand(program);
  addKeysCommand(program);
  addConfigCommand(program);
  addLedgerCommand(program);
  return program;
}

/**
 * Runs the CLI and returns the exit status: 0 on success, 2 for bad input or a gateway that
 * cannot start (one clear line on stderr, DESIGN.md), 1 for a command that failed part of its
 * work (CliFailure, e.g. a report delivery) or anything unexpected.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const program = createProgram();
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version "errors" are normal exits; usage mistakes are bad input.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof CliInputError || err instanceof CliFailure) {
      process.stderr.write(`tokenmeter: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`tokenmeter: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}
