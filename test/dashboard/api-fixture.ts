import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startDashboardServer, type DashboardServer } from '../../src/cli/dashboard-command.js';
import { parseConfig } from '../../src/config/load-config.js';
import type { Config } from '../../src/config/schema.js';
import type { UsageRecord } from '../../src/ledger/record.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { makeRecord } from '../ledger/fixtures/records.js';

export const ADMIN_KEY = 'admin-key-0123456789';
export const TEAM_A_KEY = 'team-a-key-0123456789';
export const TEAM_B_KEY = 'team-b-key-0123456789';

/** January 2026 (fixed, for exact comparisons) and the last hours (for the 30d default). */
export const JAN = Date.UTC(2026, 0, 10, 12, 0);
const HOUR = 3_600_000;

/** Seeded records: three subscriptions, several models, a custom dimension, streamed and not. */
export function seedRecords(now: number): UsageRecord[] {
  const base: Partial<UsageRecord>[] = [
    { subscription: 'team-a', model: 'gpt-4o', custom: { team: 'search' }, cost: 0.5 },
    { subscription: 'team-a', model: 'gpt-4o-mini', custom: { team: 'search' }, stream: true, cost: 0.1 },
    { subscription: 'team-a', model: 'gpt-4o', custom: { team: 'ads' }, source: 'estimated' },
    { subscription: 'team-b', model: 'claude-sonnet', custom: { team: 'ads' }, cost: 1.25 },
    { subscription: 'team-b', model: 'gpt-4o', custom: {}, source: 'partial', cost: 0.75 },
    // A custom dimension named like the default one: reachable as custom.subscription only.
    {
      subscription: 'team-c',
      model: 'gemini-pro',
      custom: { team: 'secret-project', subscription: 'team-a' },
      cost: 9,
    },
  ];
  return base.flatMap((b, i) => [
    makeRecord({
      ...b,
      id: `jan-${i}`,
      time: JAN + i * HOUR,
      promptTokens: 100 * (i + 1),
      totalTokens: 150 * (i + 1),
    }),
    makeRecord({
      ...b,
      id: `now-${i}`,
      time: now - (i + 1) * HOUR,
      promptTokens: 10 * (i + 1),
      totalTokens: 15 * (i + 1),
    }),
  ]);
}

/** The configuration text: an admin key, two YAML subscriptions, a custom dimension `team`. */
export function configYaml(ledgerPath: string): string {
  return [
    `ledger: sqlite:${ledgerPath}`,
    'admin:',
    `  key: ${ADMIN_KEY}`,
    'gateway:',
    '  keyRefreshMs: 100',
    'backends:',
    '  - id: primary',
    '    type: openai',
    '    url: https://api.openai.com/v1',
    'apis:',
    '  - id: openai',
    '    path: /openai/v1',
    '    type: openai',
    '    backend: primary',
    'products:',
    '  - id: standard',
    '    apis: [openai]',
    'subscriptions:',
    '  - id: team-a',
    `    key: ${TEAM_A_KEY}`,
    '    product: standard',
    '  - id: team-b',
    `    key: ${TEAM_B_KEY}`,
    '    product: standard',
    'tokenMetrics:',
    '  - namespace: tm',
    '    dimensions:',
    '      - api',
    '      - { name: team, value: "request.headers[\'x-team\']" }',
    '',
  ].join('\n');
}

export interface Fixture {
  dir: string;
  ledgerPath: string;
  configPath: string;
  config: Config;
  server: DashboardServer;
  url: string;
  close(): Promise<void>;
}

/**
 * A real ledger file seeded with seedRecords, the configuration file beside it, placeholder
 * dashboard pages (the UI's own live in src/dashboard/public) and a dashboard server on port 0.
 */
export async function startFixture(
  options: { before?: (ledgerPath: string) => Promise<void> } = {},
): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'tokenmeter-dashboard-'));
  const ledgerPath = join(dir, 'ledger.db');
  const ledger = createSqliteLedger(ledgerPath);
  for (const record of seedRecords(Date.now())) await ledger.append(record);
  await ledger.close();
  await options.before?.(ledgerPath);
  const publicDir = join(dir, 'public');
  await mkdir(publicDir);
  await writeFile(
    join(publicDir, 'index.html'),
    '<!doctype html><title>app</title><script src="assets/app.js"></script>',
  );
  await writeFile(
    join(publicDir, 'sign-in.html'),
    '<!doctype html><title>sign in</title><p class="error"><!--tm:sign-in-error--></p><form method="post" action="/dashboard/sign-in"><input type="password" name="key"></form>',
  );
  await writeFile(join(publicDir, 'app.js'), 'console.log("app");');
  const configPath = join(dir, 'tokenmeter.yaml');
  const text = configYaml(ledgerPath);
  await writeFile(configPath, text);
  const config = parseConfig(text, configPath, {});
  const server = await startDashboardServer(config, {
    port: 0,
    host: '127.0.0.1',
    publicDir,
    logger: pino({ level: 'silent' }),
  });
  return {
    dir,
    ledgerPath,
    configPath,
    config,
    server,
    url: server.url,
    async close() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** GET with a Bearer key; returns the status and parsed JSON body. */
export async function getJson(
  url: string,
  key: string | undefined,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetch(url, {
    headers: { ...(key !== undefined && { authorization: `Bearer ${key}` }), ...headers },
  });
  const text = await res.text();
  return {
    status: res.status,
    body: text === '' ? undefined : (JSON.parse(text) as unknown),
    headers: res.headers,
  };
}

/** The `param` and `code` of a JSON error body. */
export function errorOf(body: unknown): { code?: unknown; param?: unknown } {
  const error = (body as { error?: { code?: unknown; param?: unknown } } | undefined)?.error;
  return { code: error?.code, param: error?.param };
}
