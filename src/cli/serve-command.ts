import { InvalidArgumentError, type Command } from 'commander';
import { loadCliConfig } from './config-file.js';
import { showRollupBuild } from './rollup-build-progress.js';
import { startOrExplain } from './startup-failure.js';

/**
 * `tokenmeter serve [--config FILE]`: runs the gateway until SIGINT / SIGTERM, then drains it
 * (new connections refused, calls in flight finish for up to gateway.drainTimeoutMs, the rest
 * cut and recorded `partial`), closes the ledger and exits 0. The configuration
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
      const { startGateway, createLogger } = await import('../gateway/server.js');
      const port = opts.port ?? config.gateway.port;
      const log = createLogger();
      // Listening for the stop signals before the gateway announces itself: a signal sent as soon
      // as "listening" is read must drain the gateway, not meet Node's default action (exit by
      // signal). A signal during start-up stops the gateway once it has started.
      const stopSignal = waitForSignal();
      const gateway = await startOrExplain(
        () => startGateway(config, { port, logger: log, onRollupBuild: showRollupBuild() }),
        {
          host: config.gateway.host,
          port,
        },
      );
      process.stdout.write(`tokenmeter listening on ${gateway.url} (metrics: ${gateway.url}/metrics)\n`);
      const signal = await stopSignal;
      const drainTimeoutMs = config.gateway.drainTimeoutMs;
      // Further signals must not cut the drain short (SIGKILL does; the ledger makes that safe),
      // and without a listener Node's default action for them would kill the process.
      const ignored = (again: NodeJS.Signals): void => {
        log.warn({ signal: again }, 'already stopping: the drain goes on (SIGKILL stops at once)');
      };
      process.on('SIGINT', ignored);
      process.on('SIGTERM', ignored);
      // Closing writes records the ledger could not take to the fallback journal, or to stderr.
      // close() stops listening before its first await: the line below is true when logged.
      const closing = gateway.close({ drainTimeoutMs });
      log.info({ signal, drainTimeoutMs }, 'stopping: new connections refused, calls in flight drain');
      const drained = await closing;
      log.info(
        { inFlight: drained.inFlight, finished: drained.finished, cut: drained.cut },
        drained.cut > 0
          ? `stopped: ${drained.cut} call(s) cut at the drain deadline (recorded partial)`
          : 'stopped: every call in flight finished',
      );
      process.off('SIGINT', ignored);
      process.off('SIGTERM', ignored);
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

/** Resolves with the first SIGINT or SIGTERM, so the gateway can drain and close its ledger. */
export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const done = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve(signal);
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}
