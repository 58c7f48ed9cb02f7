import { loadConfig, type ConfigCheckOptions } from '../config/load-config.js';
import { findDefaultConfigPath } from '../config/default-config.js';
import type { Config } from '../config/schema.js';
import { CliInputError } from './cli-error.js';
import type { LedgerSource } from './usage-command.js';

/** Loads --config, or ./tokenmeter.yaml when present; a missing config is bad input. */
export function loadCliConfig(configPath: string | undefined, options: ConfigCheckOptions = {}): Config {
  const path = configPath ?? findDefaultConfigPath(process.cwd());
  if (path === undefined) {
    throw new CliInputError('no configuration: pass --config FILE or create ./tokenmeter.yaml');
  }
  return loadConfig(path, process.env, options);
}

/** The ledger URL of the configuration the command names, with its custom dimension names. */
export function resolveLedgerSource(configPath: string | undefined): LedgerSource {
  const config = loadCliConfig(configPath);
  const customDimensions = config.tokenMetrics.flatMap((m) =>
    m.dimensions.flatMap((d) => (typeof d === 'string' ? [] : [d.name])),
  );
  return { url: config.ledger, customDimensions };
}
