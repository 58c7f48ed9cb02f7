import type { Command } from 'commander';
import { findDefaultConfigPath } from '../config/default-config.js';
import type { Env } from '../config/interpolate.js';
import { formatPath, loadConfig } from '../config/load-config.js';
import type { Config } from '../config/schema.js';
import { TokenmeterError } from '../errors.js';
import { getProviderAdapter } from '../providers/registry.js';
import { createPriceCatalog } from '../pricing/price-catalog.js';
import { describePricingWarnings } from '../pricing/pricing-warnings.js';
import { CliInputError } from './cli-error.js';

/** Where `config check` reads and writes; the defaults are the process's (tests inject their own). */
export interface ConfigCommandIo {
  cwd?: () => string;
  env?: Env;
  stdout?: (text: string) => void;
  /** Where warnings go (default: process.stderr). */
  stderr?: (text: string) => void;
}

/**
 * Registers `tokenmeter config check [--config F]`. On success it prints
 * `config OK: N backends, N apis, N products, N subscriptions`, after one
 * `file path: warning: …` line on stderr per problem that does not stop serve (a configured
 * deployment whose model has no price, see describePricingWarnings); on a bad config it throws the
 * ConfigError (exit 2), whose message lists every issue as `file:line:col path: message`. It
 * runs serve's own checks, the ledger file included, so an OK is a config serve can start on
 * (listening itself, e.g. a port already in use, is only known when serve tries).
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
      // The checks serve runs before starting, so OK here means serve can start on this file.
      const env = io.env ?? process.env;
      const loaded = loadConfig(path, env, { checkLedgerFile: true });
      checkUpstreamSigners(loaded, env);
      const warn = io.stderr ?? ((text: string) => void process.stderr.write(text));
      for (const warning of describePricingWarnings(loaded, createPriceCatalog()))
        warn(`${path} ${formatPath(warning.path)}: warning: ${warning.message}\n`);
      const write = io.stdout ?? ((text: string) => void process.stdout.write(text));
      write(
        `config OK: ${loaded.backends.length} backends, ${loaded.apis.length} apis, ` +
          `${loaded.products.length} products, ${loaded.subscriptions.length} subscriptions\n`,
      );
    });
  return config;
}

/**
 * Builds each backend's upstream signer as serve does at start-up (Bedrock's SigV4 needs a region
 * and credentials, from the config or the environment), so that a backend serve would refuse is
 * refused here too.
 */
function checkUpstreamSigners(config: Config, env: Readonly<Record<string, string | undefined>>): void {
  for (const backend of config.backends) {
    if (backend.type === 'simulator') continue;
    try {
      getProviderAdapter(backend.type)?.createUpstreamSigner?.(backend, env);
    } catch (err) {
      if (err instanceof TokenmeterError) throw new CliInputError(err.message);
      throw err;
    }
  }
}
