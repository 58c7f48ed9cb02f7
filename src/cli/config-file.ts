import { loadConfig } from '../config/load-config.js';
import { findDefaultConfigPath } from '../config/default-config.js';
import type { Config } from '../config/schema.js';
import { CliInputError } from './cli-error.js';

/** Loads --config, or ./tokenmeter.yaml when present; a missing config is bad input. */
export function loadCliConfig(configPath: string | undefined): Config {
  const path = configPath ?? findDefaultConfigPath(process.cwd());
  if (path === undefined) {
    throw new CliInputError('no configuration: pass --config FILE or create ./tokenmeter.yaml');
  }
  return loadConfig(path);
}

/** The ledger URL of the configuration the command names. */
export function resolveLedgerUrl(configPath: string | undefined): string {
  return loadCliConfig(configPath).ledger;
}
