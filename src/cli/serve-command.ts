import { InvalidArgumentError, type Command } from 'commander';
import { loadCliConfig } from './config-file.js';
import { showRollupBuild } from './rollup-build-progress.js';
import { startOrExplain } from './startup-failure.js';

/**
 * `tokenmeter serve [--config FILE]`: runs the gateway until SIGINT / SIGTERM. The configuration
 * passes the same checks as `config check` (the ledger file included); any start-up failure is
 * one line on stderr and exit 2 (a CliInputError).
 */
export function addServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the gateway')
    .option('--config <file>', 'configuration file (default ./tokenmeter.yaml)')
    .option('--port <port>', 'override gateway.port', parsePort)
    .action(async (opts: { config?: string; port?: number }) => {
      const config = loadCliConfig(opts.config, { checkLedgerFile: true });
      // Loaded here, not at the top: the gateway's modules take most of the CLI's start-up time,
      // which `config check` and `usage` need not pay.
      const { startGateway } = await import('../gateway/server.js');
      const port = opts.port ?? config.gateway.port;
      const gateway = await startOrExplain(
        () => startGateway(config, { port, onRollupBuild: showRollupBuild() }),
        {
          host: config.gateway.host,
          port,
        },
      );
      process.stdout.write(`tokenmeter listening on ${gateway.url} (metrics: ${gateway.url}/metrics)\n`);
      await waitForSignal();
      // Closing writes records the ledger could not take to the fallback journal, or to stderr.
      await gateway.close();
      // Records written to stderr exist nowhere else: a non-zero exit makes the stop visible.
      if (gateway.records.stats.dropped > 0) process.exitCode = 1;
    });
}

export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidArgumentError('expected an integer 0-65535');
  return port;
}

/** Resolves on the first SIGINT or SIGTERM, so the gateway can close its ledger cleanly. */
export function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}
