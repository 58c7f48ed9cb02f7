import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { generateKeyId, generateManagedKey } from '../auth/key-secret.js';
import type { KeyStore, ManagedKey, ManagedSubscription } from '../auth/key-store.js';
import { openKeyStore } from '../auth/open-key-store.js';
import { parseDuration } from '../config/duration.js';
import { ID_PATTERN, METADATA_KEY_PATTERN, type Config } from '../config/schema.js';
import { isTokenmeterError } from '../errors.js';
import { parseLedgerUrl, SQLITE_MEMORY } from '../ledger/ledger.js';
import { escapeForTerminal, escapeJsonForTerminal } from '../reports/terminal-text.js';
import { CliInputError } from './cli-error.js';
import { loadCliConfig } from './config-file.js';
import { textTable } from '../reports/text-table.js';

/** How long a rotated-out secret keeps working without `--grace`: a day, to roll out the new key. */
export const DEFAULT_ROTATION_GRACE = '24h';

/** Where the command writes and what time it is; tests replace both. */
export interface KeysCommandIo {
  stdout?: (text: string) => void;
  now?: () => number;
}

interface LedgerOptions {
  config?: string;
  ledger?: string;
}

interface CreateOptions extends LedgerOptions {
  subscription: string;
  product: string;
  owner?: string;
  costCenter?: string;
  meta?: string[];
  expires?: string;
  format: string;
}

interface RotateOptions extends LedgerOptions {
  grace: string;
  format: string;
}

type KeysFormat = 'table' | 'json';

// No commander default for repeatable options: help would print "(default: [])".
const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function parseFormat(text: string): KeysFormat {
  const format = text.trim().toLowerCase();
  if (format === 'table' || format === 'json') return format;
  throw new CliInputError(`invalid --format ${JSON.stringify(text)}: expected table or json`);
}

function parseDurationOption(option: string, text: string, allowZero = false): number {
  if (allowZero && /^0[smhd]?$/.test(text.trim())) return 0;
  const ms = parseDuration(text);
  if (ms === undefined)
    throw new CliInputError(
      `invalid ${option} ${JSON.stringify(text)}: expected a duration such as 90d, 12h, 30m or 90s`,
    );
  return ms;
}

function parseMeta(entries: readonly string[]): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    const key = eq < 0 ? entry : entry.slice(0, eq);
    if (eq < 0 || !METADATA_KEY_PATTERN.test(key))
      throw new CliInputError(
        `invalid --meta ${JSON.stringify(entry)}: expected KEY=VALUE with KEY an identifier (letters, digits, "_"), e.g. team=search`,
      );
    if (Object.hasOwn(metadata, key)) throw new CliInputError(`--meta ${key} is given twice`);
    metadata[key] = entry.slice(eq + 1);
  }
  return metadata;
}

/**
 * The ledger URL in effect: `--ledger`, else the configuration's. An in-memory ledger is bad
 * input: no gateway could ever see its keys.
 */
function ledgerUrlOf(opts: LedgerOptions, config: () => Config): string {
  const url = opts.ledger ?? config().ledger;
  const location = asCliInput(() => parseLedgerUrl(url));
  if (location.kind === 'sqlite' && location.path === SQLITE_MEMORY)
    throw new CliInputError(
      `the ledger ${url} is in memory: managed keys must be stored in a ledger file the gateway reads`,
    );
  return url;
}

/** Coded errors of the store and the ledger URL are the user's input: one line, exit 2. */
async function asCliInputAsync<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isTokenmeterError(err) && err.code !== 'TM_INTERNAL') throw new CliInputError(err.message);
    throw err;
  }
}

function asCliInput<T>(work: () => T): T {
  try {
    return work();
  } catch (err) {
    if (isTokenmeterError(err) && err.code !== 'TM_INTERNAL') throw new CliInputError(err.message);
    throw err;
  }
}

/**
 * Opens the key store, runs `work` on it and closes it. With `mustExist`, a ledger file that
 * does not exist yet is not created: `work` gets undefined.
 */
async function withStore<T>(
  url: string,
  mustExist: boolean,
  work: (store: KeyStore | undefined) => Promise<T>,
): Promise<T> {
  const location = asCliInput(() => parseLedgerUrl(url));
  if (mustExist && location.kind === 'sqlite' && !existsSync(location.path)) return work(undefined);
  let store: KeyStore | undefined;
  try {
    store = asCliInput(() => openKeyStore(url));
  } catch (err) {
    // e.g. SQLITE_NOTADB when --ledger points at some other file: a bad input, not a crash.
    if (err instanceof Error && 'code' in err && String(err.code).startsWith('SQLITE_'))
      throw new CliInputError(`cannot open ledger ${url}: ${err.message}`);
    throw err;
  }
  try {
    return await asCliInputAsync(() => work(store));
  } finally {
    await store?.close();
  }
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/** `2025-01-31T10:00:00.000Z` → `2025-01-31 10:00:00Z`, for tables. */
const shortTime = (ms: number | undefined, none: string): string =>
  ms === undefined ? none : new Date(ms).toISOString().slice(0, 19).replace('T', ' ') + 'Z';

function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return textTable(
    header,
    rows.map((row) => row.map(escapeForTerminal)),
  ).join('\n');
}

/** The new key, shown once: `{id, key, subscription, product, expiresAt}` or a two-column table. */
function formatNewKey(key: ManagedKey, secret: string, format: KeysFormat, graceEndsAt?: number): string {
  if (format === 'json')
    return escapeJsonForTerminal(
      JSON.stringify({
        id: key.id,
        key: secret,
        subscription: key.subscription,
        product: key.product,
        expiresAt: iso(key.expiresAt),
        ...(graceEndsAt !== undefined ? { previousKeyWorksUntil: iso(graceEndsAt) } : {}),
      }),
    );
  const rows = [
    ['id', key.id],
    ['key', secret],
    ['subscription', key.subscription],
    ['product', key.product],
    ['expires', shortTime(key.expiresAt, 'never')],
    ...(graceEndsAt !== undefined ? [['previous key works until', shortTime(graceEndsAt, '')]] : []),
  ];
  const width = Math.max(...rows.map((r) => (r[0] ?? '').length));
  return [
    ...rows.map(([label = '', value = '']) => `${label.padEnd(width)}  ${escapeForTerminal(value)}`),
    '',
    'Store the key now: tokenmeter keeps only its hash and cannot show it again.',
  ].join('\n');
}

function formatKeyList(keys: readonly ManagedKey[], format: KeysFormat): string {
  if (format === 'json')
    return escapeJsonForTerminal(
      JSON.stringify(
        keys.map((k) => ({
          id: k.id,
          subscription: k.subscription,
          product: k.product,
          owner: k.owner ?? null,
          createdAt: iso(k.createdAt),
          expiresAt: iso(k.expiresAt),
          revokedAt: iso(k.revokedAt),
        })),
        null,
        2,
      ),
    );
  const rows = keys.map((k) => [
    k.id,
    k.subscription,
    k.product,
    k.owner ?? '-',
    shortTime(k.createdAt, ''),
    shortTime(k.expiresAt, 'never'),
    shortTime(k.revokedAt, '-'),
  ]);
  const table = formatTable(
    ['id', 'subscription', 'product', 'owner', 'created', 'expires', 'revoked'],
    rows,
  );
  return keys.length === 0 ? `${table}\n(no managed keys)` : table;
}

/**
 * The subscription a new key belongs to: a YAML one (same product, not revoked, no --cost-center
 * or --meta: those are set in the file), an existing managed one (same product; --cost-center and
 * --meta, when given, must match), or a new managed one to create with the key.
 */
async function subscriptionToCreate(
  store: KeyStore,
  config: Config,
  opts: CreateOptions,
  fresh: { owner: string | undefined; metadata: Record<string, string>; now: number },
): Promise<ManagedSubscription | undefined> {
  const { owner, metadata, now } = fresh;
  const id = opts.subscription;
  const yaml = config.subscriptions.find((s) => s.id === id);
  if (yaml !== undefined) {
    if (yaml.product !== opts.product)
      throw new CliInputError(
        `subscription "${id}" is defined in the configuration with product "${yaml.product}": a key for it needs --product ${yaml.product}`,
      );
    if (yaml.revoked) throw new CliInputError(`subscription "${id}" is revoked in the configuration`);
    if (opts.costCenter !== undefined || opts.meta !== undefined)
      throw new CliInputError(
        `subscription "${id}" is defined in the configuration: set its costCenter and metadata there, not with --cost-center or --meta`,
      );
    return undefined;
  }
  const existing = await store.subscription(id);
  if (existing === undefined)
    return { id, product: opts.product, owner, costCenter: opts.costCenter, metadata, createdAt: now };
  if (existing.product !== opts.product)
    throw new CliInputError(
      `subscription "${id}" has product "${existing.product}": a key for it needs --product ${existing.product}`,
    );
  const sameMeta =
    JSON.stringify(Object.entries(metadata).sort()) ===
    JSON.stringify(Object.entries(existing.metadata).sort());
  if (
    (opts.costCenter !== undefined && opts.costCenter !== existing.costCenter) ||
    (opts.meta !== undefined && !sameMeta)
  )
    throw new CliInputError(
      `subscription "${id}" already exists with other --cost-center or --meta values; they are set when its first key is created`,
    );
  return existing;
}

async function runCreate(opts: CreateOptions, io: Required<KeysCommandIo>): Promise<void> {
  // Every input is checked before the ledger is opened, so bad input never creates a file.
  const format = parseFormat(opts.format);
  if (!ID_PATTERN.test(opts.subscription))
    throw new CliInputError(
      `invalid --subscription ${JSON.stringify(opts.subscription)}: must be letters, digits, ".", "_" or "-"`,
    );
  const owner = opts.owner?.trim();
  if (owner === '') throw new CliInputError('--owner is empty');
  const expiresIn = opts.expires === undefined ? undefined : parseDurationOption('--expires', opts.expires);
  const metadata = parseMeta(opts.meta ?? []);
  const config = loadCliConfig(opts.config);
  if (!config.products.some((p) => p.id === opts.product)) {
    const known = config.products.map((p) => p.id).join(', ');
    throw new CliInputError(
      `unknown --product "${opts.product}": the configuration defines ${known === '' ? 'no products' : known}`,
    );
  }
  const url = ledgerUrlOf(opts, () => config);
  const now = io.now();
  const generated = generateManagedKey();
  const key = await withStore(url, false, async (store) => {
    if (store === undefined) throw new CliInputError(`the ledger ${url} cannot hold managed keys`);
    const subscription = await subscriptionToCreate(store, config, opts, { owner, metadata, now });
    return store.createKey({
      key: {
        id: generateKeyId(),
        subscription: opts.subscription,
        product: opts.product,
        owner,
        createdAt: now,
        expiresAt: expiresIn === undefined ? undefined : now + expiresIn,
      },
      digest: generated.digest,
      subscription,
    });
  });
  io.stdout(`${formatNewKey(key, generated.key, format)}\n`);
}

async function runList(opts: LedgerOptions & { format: string }, io: Required<KeysCommandIo>): Promise<void> {
  const format = parseFormat(opts.format);
  const url = ledgerUrlOf(opts, () => loadCliConfig(opts.config));
  const keys = await withStore(url, true, async (store) => (store === undefined ? [] : store.listKeys()));
  io.stdout(`${formatKeyList(keys, format)}\n`);
}

async function runRevoke(id: string, opts: LedgerOptions, io: Required<KeysCommandIo>): Promise<void> {
  const url = ledgerUrlOf(opts, () => loadCliConfig(opts.config));
  const now = io.now();
  const key = await withStore(url, true, async (store) => {
    if (store === undefined) throw new CliInputError(`no managed key has the id "${id}"`);
    return store.revokeKey(id, now);
  });
  io.stdout(`revoked ${escapeForTerminal(key.id)} (subscription ${escapeForTerminal(key.subscription)})\n`);
}

async function runRotate(id: string, opts: RotateOptions, io: Required<KeysCommandIo>): Promise<void> {
  const format = parseFormat(opts.format);
  const grace = parseDurationOption('--grace', opts.grace, true);
  const url = ledgerUrlOf(opts, () => loadCliConfig(opts.config));
  const now = io.now();
  const generated = generateManagedKey();
  const key = await withStore(url, true, async (store) => {
    if (store === undefined) throw new CliInputError(`no managed key has the id "${id}"`);
    return store.rotateKey(id, generated.digest, now, now + grace);
  });
  io.stdout(`${formatNewKey(key, generated.key, format, now + grace)}\n`);
}

function ledgerOptions(command: Command): Command {
  return command
    .option('--config <file>', 'configuration file (default: ./tokenmeter.yaml when present)')
    .option('--ledger <url>', 'ledger URL (sqlite:PATH), instead of the one in the configuration');
}

/**
 * Registers `tokenmeter keys create|list|revoke|rotate` (docs/who-is-calling.md, "Managed keys").
 * Keys are stored in the ledger database as SHA-256 digests only; a key is printed once, by
 * create and rotate. Bad input throws CliInputError (exit 2, one line) before the ledger is
 * opened where it can be told without it. The actions are async: run with `parseAsync`.
 */
export function addKeysCommand(program: Command, io: KeysCommandIo = {}): Command {
  const full: Required<KeysCommandIo> = {
    stdout: io.stdout ?? ((text) => void process.stdout.write(text)),
    now: io.now ?? Date.now,
  };
  const keys = program
    .command('keys')
    .description('managed subscription keys, stored in the ledger database');
  ledgerOptions(keys.command('create'))
    .description('create a key (and its subscription when new); prints the key once')
    .requiredOption('--subscription <id>', 'subscription id (created when it does not exist)')
    .requiredOption('--product <id>', 'product of the configuration the key gives access to')
    .option('--owner <email>', 'who holds the key (also the owner of a new subscription)')
    .option('--cost-center <cc>', 'cost center of a new subscription')
    .option('--meta <key=value>', 'subscription.metadata of a new subscription (repeatable)', collect)
    .option(
      '--expires <duration>',
      'the key stops working after this long: 90d, 12h, 30m, 90s (default: never)',
    )
    .option('--format <format>', 'table or json', 'table')
    .action((opts: CreateOptions) => runCreate(opts, full));
  ledgerOptions(keys.command('list'))
    .description('list managed keys (never a key or its hash)')
    .option('--format <format>', 'table or json', 'table')
    .action((opts: LedgerOptions & { format: string }) => runList(opts, full));
  ledgerOptions(keys.command('revoke'))
    .description('revoke a key: gateways refuse it within seconds')
    .argument('<id>', 'key id (key_…)')
    .action((id: string, opts: LedgerOptions) => runRevoke(id, opts, full));
  ledgerOptions(keys.command('rotate'))
    .description('give a key a new secret; prints it once; the old one works until the grace ends')
    .argument('<id>', 'key id (key_…)')
    .option(
      '--grace <duration>',
      'how long the old secret keeps working (0: not at all)',
      DEFAULT_ROTATION_GRACE,
    )
    .option('--format <format>', 'table or json', 'table')
    .action((id: string, opts: RotateOptions) => runRotate(id, opts, full));
  return keys;
}
