import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseDocument } from 'yaml';
import { findDefaultConfigPath } from '../config/default-config.js';
import type { Config } from '../config/schema.js';
import { openLedger, parseLedgerUrl, SQLITE_MEMORY, type Ledger } from '../ledger/ledger.js';
import { createCallPricer } from '../pricing/call-pricer.js';
import { MAX_SEED } from '../synthetic/prng.js';
import { DEFAULT_SYNTHETIC_MODEL_COUNT, SYNTHETIC_MODELS } from '../synthetic/synthetic-models.js';
import { generateTraffic, type TrafficPlan } from '../synthetic/generate-traffic.js';
import { CliInputError } from './cli-error.js';
import { loadCliConfig } from './config-file.js';
import { createProgressBar, formatCount, type ProgressStream } from './progress-bar.js';
import { asCliInput } from './usage-command.js';
import { showRollupBuild } from './rollup-build-progress.js';

/** Upper bounds of `ledger generate` (beyond them a run is a mistake, not a benchmark). */
export const GENERATE_LIMITS = {
  records: 1_000_000_000,
  days: 3650,
  subscriptions: 10_000,
} as const;

/** Where the command writes and what time it is; tests replace them. */
export interface LedgerCommandIo {
  stdout?: (text: string) => void;
  /** Progress (default process.stderr): a bar on a terminal, lines otherwise. */
  progress?: ProgressStream;
  now?: () => number;
}

interface GenerateOptions {
  config?: string;
  ledger?: string;
  records: string;
  days: string;
  subscriptions: string;
  models?: string;
  seed?: string;
}

/** A whole number in [min, max] from an option's text, else CliInputError naming the option. */
function parseWhole(text: string, option: string, min: number, max: number): number {
  const trimmed = text.trim().replaceAll('_', '');
  const value = /^\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw new CliInputError(
      `invalid ${option} ${JSON.stringify(text)}: expected a whole number from ${formatCount(min)} to ${formatCount(max)}`,
    );
  return value;
}

/** The configuration file read: --config, else ./tokenmeter.yaml (loadCliConfig refuses none). */
function configPathOf(opts: GenerateOptions): string | undefined {
  return opts.config ?? findDefaultConfigPath(process.cwd());
}

/**
 * The ledger to fill: --ledger, else the configuration's own `ledger:`. The schema defaults a
 * missing `ledger:` to ./tokenmeter.db; filling a file nobody named would surprise, so a
 * configuration that names none is bad input here.
 */
function ledgerUrlOf(opts: GenerateOptions, config: Config): string {
  if (opts.ledger !== undefined) return opts.ledger;
  const path = configPathOf(opts);
  const named = path !== undefined && parseDocument(readFileSync(path, 'utf8')).has('ledger');
  if (!named)
    throw new CliInputError(
      'the configuration names no ledger: add `ledger: sqlite:PATH` or pass --ledger URL',
    );
  return config.ledger;
}

/** Checks every option and the target ledger; throws CliInputError before anything is opened. */
function planGeneration(
  opts: GenerateOptions,
  now: number,
): { plan: TrafficPlan; url: string; config: Config } {
  const records = parseWhole(opts.records, '--records', 1, GENERATE_LIMITS.records);
  const days = parseWhole(opts.days, '--days', 1, GENERATE_LIMITS.days);
  const subscriptions = parseWhole(opts.subscriptions, '--subscriptions', 1, GENERATE_LIMITS.subscriptions);
  const models = parseWhole(
    opts.models ?? String(DEFAULT_SYNTHETIC_MODEL_COUNT),
    '--models',
    1,
    SYNTHETIC_MODELS.length,
  );
  const seed = parseWhole(opts.seed ?? '1', '--seed', 0, MAX_SEED);
  const config = loadCliConfig(opts.config);
  const url = ledgerUrlOf(opts, config);
  const location = asCliInput(() => parseLedgerUrl(url));
  if (location.kind !== 'sqlite')
    throw new CliInputError(
      `ledger generate writes to an SQLite ledger only, not ${location.kind}: pass --ledger sqlite:PATH`,
    );
  if (location.path === SQLITE_MEMORY)
    throw new CliInputError(
      'ledger generate needs a ledger file: an in-memory ledger is gone when the command ends',
    );
  const products = config.products.map((p) => p.id);
  return {
    url,
    config,
    plan: {
      records,
      days,
      subscriptions,
      models,
      seed,
      now,
      gateway: config.gateway.id,
      location: config.gateway.location,
      products: products.length > 0 ? products : ['standard'],
    },
  };
}

function openForWriting(url: string): Ledger {
  return asCliInput(() => {
    try {
      return openLedger(url, { onRollupBuild: showRollupBuild() });
    } catch (err) {
      // e.g. SQLITE_NOTADB when --ledger points at some other file: a bad input, not a crash.
      if (err instanceof Error && 'code' in err && String(err.code).startsWith('SQLITE_'))
        throw new CliInputError(`cannot open ledger ${url}: ${err.message}`);
      throw err;
    }
  });
}

async function runGenerate(opts: GenerateOptions, io: LedgerCommandIo): Promise<void> {
  const { plan, url, config } = planGeneration(opts, (io.now ?? Date.now)());
  const ledger = openForWriting(url);
  const bar = createProgressBar({
    label: 'generating records',
    total: plan.records,
    ...(io.progress !== undefined ? { stream: io.progress } : {}),
  });
  const startedAt = performance.now();
  try {
    await generateTraffic(plan, {
      ledger,
      pricer: createCallPricer(config),
      onProgress: (done) => bar.update(done),
    });
  } finally {
    bar.finish();
    await ledger.close();
  }
  const seconds = (performance.now() - startedAt) / 1000;
  const write = io.stdout ?? ((t: string) => void process.stdout.write(t));
  write(
    `generated ${formatCount(plan.records)} records (${plan.days} days, ${plan.subscriptions} subscriptions, ` +
      `${plan.models} models, seed ${plan.seed}) into ${url} in ${seconds.toFixed(1)}s ` +
      `(${formatCount(plan.records / Math.max(seconds, 1e-3))} records/s)\n`,
  );
}

/**
 * Registers `tokenmeter ledger generate --config F --records N --days D --subscriptions S
 * [--models M] [--seed X] [--ledger URL]`: fills an SQLite ledger with N synthetic records over
 * the D days ending now (see synthetic/generate-traffic.ts), through the gateway's write path and
 * pricing. Every option is checked first: bad input throws CliInputError (exit 2) before the
 * ledger is opened or created. Progress goes to stderr, the summary line to stdout.
 */
export function addLedgerCommand(program: Command, io: LedgerCommandIo = {}): Command {
  const ledger = program.command('ledger').description('ledger tools');
  ledger
    .command('generate')
    .description('fill a ledger with realistic synthetic traffic (for demos and benchmarks)')
    .option('--config <file>', 'configuration file (default: ./tokenmeter.yaml when present)')
    .option('--ledger <url>', 'ledger URL (sqlite:PATH), instead of the one in the configuration')
    .requiredOption('--records <n>', 'number of records to write')
    .requiredOption('--days <d>', 'spread over the D days ending now')
    .requiredOption('--subscriptions <s>', 'number of subscriptions (team-01, team-02, …)')
    .option(
      '--models <m>',
      `number of models (1 to ${SYNTHETIC_MODELS.length}, default ${DEFAULT_SYNTHETIC_MODEL_COUNT})`,
    )
    .option('--seed <x>', 'random seed: the same seed gives the same traffic (default 1)')
    .action((opts: GenerateOptions) => runGenerate(opts, io));
  return ledger;
}
