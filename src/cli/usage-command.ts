import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { isTokenmeterError } from '../errors.js';
import { openLedger, parseLedgerUrl, SQLITE_MEMORY, type Ledger } from '../ledger/ledger.js';
import { formatRows, parseOutputFormat } from '../reports/format.js';
import { checkCustomDimensionsKnown as checkKnownDimensions } from '../reports/known-dimensions.js';
import { checkBucketLimit, checkByLimit, checkWhereLimit } from '../reports/query-limits.js';
import { parseTimeArgs } from '../reports/time-args.js';
import {
  resolveUsageQuery,
  type ResolvedUsageQuery,
  type UsageFilter,
  type UsageQuery,
  type UsageRow,
} from '../reports/usage-query.js';
import { CliInputError } from './cli-error.js';
import { showRollupBuild } from './rollup-build-progress.js';

/** Where the usage command reads: a ledger URL and the custom dimensions the configuration defines. */
export interface LedgerSource {
  url: string;
  customDimensions?: readonly string[];
}

/** The dimension `tokenmeter usage` groups by without `--by`. */
export const DEFAULT_USAGE_BY = 'subscription';

/** Where the command writes and what time it is; tests replace both. */
export interface UsageCommandIo {
  stdout?: (text: string) => void;
  now?: () => number;
}

interface UsageOptions {
  config?: string;
  ledger?: string;
  by?: string[];
  since?: string;
  until?: string;
  interval?: string;
  where?: string[];
  format: string;
}

// No commander default for repeatable options: help would print "(default: [])".
const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Bad query input and bad ledger URLs surface from lower layers as coded errors; the CLI exits 2. */
export function asCliInput<T>(work: () => T): T {
  try {
    return work();
  } catch (err) {
    if (isTokenmeterError(err) && (err.code === 'TM_USAGE_ARGS' || err.code === 'TM_CONFIG_INVALID')) {
      throw new CliInputError(err.message);
    }
    throw err;
  }
}

function parseWhere(text: string): UsageFilter {
  const eq = text.indexOf('=');
  if (eq <= 0)
    throw new CliInputError(`invalid --where ${JSON.stringify(text)}: expected DIM=VALUE, e.g. model=gpt-4o`);
  return { dim: text.slice(0, eq).trim(), value: text.slice(eq + 1) };
}

/** `--by a,b --by c` → [a, b, c]; not given → the default; given empty → no grouping (totals). */
function parseBy(values: readonly string[] | undefined): string[] {
  if (values === undefined) return [DEFAULT_USAGE_BY];
  return values
    .flatMap((v) => v.split(','))
    .map((d) => d.trim())
    .filter((d) => d !== '');
}

/** Opens the ledger, or returns undefined when it is an SQLite file that does not exist yet. */
export function openExistingLedger(url: string): Ledger | undefined {
  const location = asCliInput(() => parseLedgerUrl(url));
  // Reading must not leave an empty database (and its directory) behind where there was none.
  if (location.kind === 'sqlite' && location.path !== SQLITE_MEMORY && !existsSync(location.path))
    return undefined;
  return asCliInput(() => {
    try {
      return openLedger(url, { onRollupBuild: showRollupBuild() });
    } catch (err) {
      // e.g. SQLITE_NOTADB when --ledger points at some other file: a bad input, not a crash.
      if (err instanceof Error && 'code' in err && String(err.code).startsWith('SQLITE_')) {
        throw new CliInputError(`cannot open ledger ${url}: ${err.message}`);
      }
      throw err;
    }
  });
}

/**
 * A custom dimension must be one the configuration defines or one the ledger holds: a typo in
 * --by or --where is bad input (exit 2), not an empty column.
 */
export function checkCustomDimensionsKnown(query: ResolvedUsageQuery, known: ReadonlySet<string>): void {
  asCliInput(() => checkKnownDimensions(query, known));
}

async function runUsage(
  opts: UsageOptions,
  loadLedgerUrl: (configPath: string | undefined) => string | LedgerSource,
  io: UsageCommandIo,
) {
  const now = (io.now ?? Date.now)();
  // All input is checked before the ledger is touched, so bad input never opens or creates a file.
  const format = parseOutputFormat(opts.format);
  const query: UsageQuery = {
    by: parseBy(opts.by),
    ...parseTimeArgs(opts, now),
    where: (opts.where ?? []).map(parseWhere),
  };
  const resolved = asCliInput(() => {
    checkByLimit(query.by);
    checkWhereLimit(query.where);
    checkBucketLimit(query, now);
    return resolveUsageQuery(query);
  });
  const loaded = opts.ledger ?? loadLedgerUrl(opts.config);
  const source: LedgerSource = typeof loaded === 'string' ? { url: loaded } : loaded;

  let rows: UsageRow[] = [];
  const ledger = openExistingLedger(source.url);
  const known = new Set(source.customDimensions ?? []);
  try {
    for (const name of ledger === undefined ? [] : await ledger.customDimensionNames()) known.add(name);
    checkCustomDimensionsKnown(resolved, known);
    if (ledger !== undefined) rows = await ledger.query(query);
  } finally {
    await ledger?.close();
  }
  const text = formatRows(
    rows,
    resolved.by.map((d) => d.output),
    format,
    { time: resolved.interval !== undefined },
  );
  const write = io.stdout ?? ((t: string) => void process.stdout.write(t));
  write(`${text}${format === 'csv' ? '\r\n' : '\n'}`);
}

/**
 * Registers `tokenmeter usage` (DESIGN.md, "Commands"). `loadLedgerUrl` returns the ledger URL of
 * the configuration (`--config`, else ./tokenmeter.yaml) and may throw CliInputError; it is not
 * called when `--ledger` is given. Bad input throws CliInputError (exit 2) before anything is
 * opened. The action is async: run the program with `parseAsync`.
 *
 * @example
 * addUsageCommand(program, resolveLedgerUrl);
 * await program.parseAsync(['usage', '--by', 'subscription,model', '--format', 'json'], { from: 'user' });
 */
export function addUsageCommand(
  program: Command,
  loadLedgerUrl: (configPath: string | undefined) => string | LedgerSource,
  io: UsageCommandIo = {},
): Command {
  return program
    .command('usage')
    .description('token usage from the ledger, grouped by dimensions')
    .option('--config <file>', 'configuration file (default: ./tokenmeter.yaml when present)')
    .option('--ledger <url>', 'ledger URL (sqlite:PATH), instead of the one in the configuration')
    .option(
      '--by <dims>',
      `group by dimensions, comma-separated or repeated (default: ${DEFAULT_USAGE_BY})`,
      collect,
    )
    .option('--since <when>', 'start: a duration before now (30d, 12h, 90m) or an ISO date (default: 30d)')
    .option('--until <when>', 'end (exclusive): an ISO date or a duration before now')
    .option('--interval <size>', 'one row per time bucket: 15m, 1h, 1d (UTC-aligned)')
    .option('--where <dim=value>', 'only records whose dimension has this value (repeatable)', collect)
    .option('--format <format>', 'table, json or csv', 'table')
    .action((opts: UsageOptions) => runUsage(opts, loadLedgerUrl, io));
}
