import type { Command } from 'commander';
import { findDefaultConfigPath } from '../config/default-config.js';
import type { Env } from '../config/interpolate.js';
import { loadConfig } from '../config/load-config.js';
import { CliInputError } from './cli-error.js';

/** Where `config check` reads and writes; the defaults are the process's (tests inject their own). */
export interface ConfigCommandIo {
  cwd?: () => string;
  env?: Env;
  stdout?: (text: string) => void;
}

/**
 * Registers `tokenmeter config check [--config F]`. On success it prints
 * `config OK: N backends, N apis, N products, N subscriptions`; on a bad config it throws the
 * ConfigError (exit 2), whose message lists every issue as `file:line:col path: message`.
 */
export function addConfigCommand(program: Command, io: ConfigCommandIo = {}): Command {
  const config = program.command('config').description('work with the configuration file');
  config
    .command('check')
    .description('validate a configuration file and report every problem with its line')
    .option('--config <file>', 'configuration file (default: ./tokenmeter.yaml)')
    .action((options: { config?: string }) => {
      const path = options.config ?? findDefaultConfigPath(io.cwd?.() ?? process.cwd());
      if (path === undefined) {
        throw new CliInputError('no configuration: pass --config FILE or create ./tokenmeter.yaml');
      }
      const loaded = loadConfig(path, io.env ?? process.env);
      const write = io.stdout ?? ((text: string) => void process.stdout.write(text));
      write(
        `config OK: ${loaded.backends.length} backends, ${loaded.apis.length} apis, ` +
          `${loaded.products.length} products, ${loaded.subscriptions.length} subscriptions\n`,
      );
    });
  return config;
}
