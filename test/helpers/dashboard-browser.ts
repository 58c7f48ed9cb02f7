import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startDashboardServer, type DashboardServer } from '../../src/cli/dashboard-command.js';
import { parseConfig } from '../../src/config/load-config.js';
import { configYaml } from '../dashboard/api-fixture.js';
import { seedRecords } from './dashboard-seed.js';
import { openLedger } from '../../src/ledger/ledger.js';
import type { UsageRecord } from '../../src/ledger/record.js';

/** Debian's Chromium, which `.ci/run` installs; browser tests skip when it is missing. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Why browser tests cannot run here, or undefined when they can. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM_PATH) ? undefined : `${CHROMIUM_PATH} is missing (apt-get install chromium)`;
}

/** Launches headless Chromium with the flags that keep it off the network and quiet. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Writes `records` to a new SQLite ledger at `path` through the real write path. */
export async function seedLedger(path: string, records: readonly UsageRecord[]): Promise<void> {
  const ledger = openLedger(`sqlite:${path}`);
  try {
    for (const record of records) await ledger.append(record);
  } finally {
    await ledger.close();
  }
}

/**
 * The real dashboard server (`tokenmeter dashboard`) on port 0 over the ledger at `ledgerPath`,
 * with the configuration `configText` written beside it in `dir`; it serves the real page.
 */
export async function startDashboard(dir: string, configText: string): Promise<DashboardServer> {
  const configPath = join(dir, 'tokenmeter.yaml');
  await writeFile(configPath, configText);
  const config = parseConfig(configText, configPath, {});
  return startDashboardServer(config, { port: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }) });
}

/** The chart data the page exposes (window.tokenmeterDashboard.chartData()). */
export interface ChartData {
  labels: string[];
  times: number[];
  values: Record<string, number[]>;
}

/**
 * Waits until the chart and the top table show the current query. Call after an action that
 * starts a query: the page marks both `loading` synchronously in the control's event handler.
 */
export async function waitForDashboard(page: Page): Promise<void> {
  await page.waitForSelector('#usage-chart[data-state="ready"]');
  await page.waitForSelector('#top-table[data-state="ready"]');
}

/**
 * Evaluates a JavaScript expression in the page (awaiting a promise) and returns its value as T.
 * Page code is passed as text: the TypeScript project has no DOM types.
 */
export async function evaluate<T>(page: Page, expression: string): Promise<T> {
  return await page.evaluate(expression);
}

/** The page's test hook: window.tokenmeterDashboard.chartData(). */
export function chartData(page: Page): Promise<ChartData> {
  return evaluate<ChartData>(page, 'window.tokenmeterDashboard.chartData()');
}

/** The chart's series as { label: { epochSeconds: value } }, zero buckets left out. */
export async function chartSeries(page: Page): Promise<Record<string, Record<number, number>>> {
  const data = await chartData(page);
  const out: Record<string, Record<number, number>> = {};
  for (const label of data.labels) {
    const points: Record<number, number> = {};
    data.values[label]!.forEach((value, i) => {
      if (value !== 0) points[data.times[i]!] = value;
    });
    out[label] = points;
  }
  return out;
}

/** Signs in at `baseUrl`/dashboard with `key` and waits for the page to draw its first chart. */
export async function signIn(page: Page, baseUrl: string, key: string): Promise<void> {
  await page.goto(`${baseUrl}/dashboard`);
  await page.getByLabel('Admin key or subscription key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await waitForDashboard(page);
}

/** A seeded ledger, the real dashboard server over it and a Chromium to drive it. */
export interface BrowserFixture {
  records: UsageRecord[];
  url: string;
  /** A page in a new context (own cookies) that records CSP violations and foreign requests. */
  newPage(viewport: { width: number; height: number }): Promise<[BrowserContext, Page]>;
  /** Saves a full-page screenshot: to TOKENMETER_SCREENSHOT_DIR when set, else the temp dir. */
  shot(page: Page, name: string): Promise<void>;
  cspViolations: string[];
  foreignRequests: string[];
  close(): Promise<void>;
}

/** Seeds a temp ledger with seedRecords(), starts the dashboard server and launches Chromium. */
export async function startBrowserFixture(): Promise<BrowserFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'tokenmeter-dashboard-'));
  const records = seedRecords();
  const ledgerPath = join(dir, 'ledger.db');
  await seedLedger(ledgerPath, records);
  const server = await startDashboard(dir, configYaml(ledgerPath));
  const browser = await launchChromium();
  const cspViolations: string[] = [];
  const foreignRequests: string[] = [];
  return {
    records,
    url: server.url,
    cspViolations,
    foreignRequests,
    async newPage(viewport) {
      const context = await browser.newContext({ viewport, acceptDownloads: true });
      const page = await context.newPage();
      // Fail a wrong expectation in seconds rather than Playwright's default 30.
      page.setDefaultTimeout(10_000);
      page.on('console', (message) => {
        if (/Content[- ]Security[- ]Policy/i.test(message.text())) cspViolations.push(message.text());
      });
      page.on('request', (request) => {
        if (!request.url().startsWith(server.url)) foreignRequests.push(request.url());
      });
      return [context, page];
    },
    async shot(page, name) {
      const into = process.env.TOKENMETER_SCREENSHOT_DIR ?? dir;
      await page.screenshot({ path: join(into, `${name}.png`), fullPage: true });
    },
    async close() {
      await browser.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
