import type { Command } from 'commander';
import type { Config } from '../config/schema.js';
import type { DashboardServer, DashboardServerOptions } from '../dashboard/dashboard-server.js';
import { CliInputError } from './cli-error.js';
import { loadCliConfig } from './config-file.js';
import { parsePort, waitForSignal } from './serve-command.js';
import { startOrExplain } from './startup-failure.js';
import { openExistingLedger } from './usage-command.js';

export type { DashboardServer, DashboardServerOptions };

/**
 * Starts the dashboard server (see dashboard/dashboard-server.ts): the dashboard and query API
 * only, against the configured ledger; for `tokenmeter dashboard` and in-process browser tests.
 * Loaded on use, as `serve` loads the gateway: other commands do not pay its start-up time.
 */
export async function startDashboardServer(
  config: Config,
  options: DashboardServerOptions = {},
): Promise<DashboardServer> {
  const { startDashboardServer: start } = await import('../dashboard/dashboard-server.js');
  return start(config, options);
}

/**
 * Registers `tokenmeter dashboard --config F [--port P]`: the dashboard and query API against the
 * configured ledger, without proxying anything, until SIGINT / SIGTERM. A ledger file that does
 * not exist is bad input (exit 2): nothing is created.
 */
export function addDashboardCommand(program: Command): void {
  program
    .command('dashboard')
    .description('serve the dashboard and query API against the ledger (no proxying)')
    .option('--config <file>', 'configuration file (default ./tokenmeter.yaml)')
    .option('--port <port>', 'override gateway.port', parsePort)
    .action(async (opts: { config?: string; port?: number }) => {
      const config = loadCliConfig(opts.config);
      const ledger = openExistingLedger(config.ledger);
      if (ledger === undefined) throw new CliInputError(`no ledger at ${config.ledger}: nothing to show yet`);
      const port = opts.port ?? config.gateway.port;
      const stopSignal = waitForSignal(); // before the URL is printed: see serve-command.ts
      const server = await startOrExplain(() => startDashboardServer(config, { ledger, port }), {
        host: config.gateway.host,
        port,
      });
      process.stdout.write(`tokenmeter dashboard on ${server.url}/dashboard\n`);
      await stopSignal;
      await server.close();
    });
}
