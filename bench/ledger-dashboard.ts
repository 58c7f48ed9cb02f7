import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { BENCH_ADMIN_KEY } from './ledger-fixtures.js';

/** `tokenmeter dashboard` serving one ledger, or why it could not be started. */
export type DashboardServer = { url: string; stop(): Promise<void> } | { skipped: string };

/** The chart's contract with the dashboard page (issue #10): this element, this state. */
const CHART_READY = '#usage-chart[data-state="ready"]';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/**
 * Starts `tokenmeter dashboard --config F --port P` (the built CLI) and waits until it answers
 * HTTP (a first open of a ledger without rollups builds them first: up to `timeoutMs`). Skipped
 * with a reason when the command does not exist in this build (the API branch not merged).
 */
export async function startDashboard(
  repoRoot: string,
  configPath: string,
  timeoutMs: number,
): Promise<DashboardServer> {
  const cli = join(repoRoot, 'bin', 'tokenmeter.js');
  const help = spawnSync(process.execPath, [cli, 'dashboard', '--help'], { encoding: 'utf8' });
  // commander answers `--help` for an unknown command with the program's help (status 0).
  if (help.status !== 0 || !help.stdout.includes('tokenmeter dashboard'))
    return { skipped: 'no `tokenmeter dashboard` command in this build (query API not merged)' };
  const port = await freePort();
  const child = spawn(process.execPath, [cli, 'dashboard', '--config', configPath, '--port', String(port)], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, TOKENMETER_LOG_LEVEL: process.env.TOKENMETER_LOG_LEVEL ?? 'warn' },
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (child.exitCode !== null)
      return { skipped: `tokenmeter dashboard exited with code ${child.exitCode}` };
    try {
      await fetch(`${url}/api/dimensions`);
      return { url, stop: () => stopChild(child) };
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  await stopChild(child);
  return { skipped: `tokenmeter dashboard did not answer within ${timeoutMs / 1000} s` };
}

/** Times of one measurement: the first run and the median of the following ones, ms. */
export interface Timing {
  firstMs: number;
  medianMs: number;
  runs: number;
}

/** Runs `work` 1 + `runs` times: the first (cold) run apart, the median of the rest. */
export async function timeRuns(runs: number, work: () => Promise<unknown>): Promise<Timing> {
  const once = async (): Promise<number> => {
    const started = performance.now();
    await work();
    return performance.now() - started;
  };
  const firstMs = await once();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await once());
  times.sort((a, b) => a - b);
  return { firstMs, medianMs: times[Math.floor((times.length - 1) / 2)] ?? firstMs, runs };
}

/** `GET /api/usage?by=subscription&interval=1d` over [since, until) as the admin; throws unless 200. */
export async function fetchDailyUsage(url: string, since: number, until: number): Promise<number> {
  const query = new URLSearchParams({
    by: 'subscription',
    interval: '1d',
    since: new Date(since).toISOString(),
    until: new Date(until).toISOString(),
  });
  const res = await fetch(`${url}/api/usage?${query.toString()}`, {
    headers: { authorization: `Bearer ${BENCH_ADMIN_KEY}` },
  });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`/api/usage answered ${res.status}: ${body.slice(0, 200)}`);
  return (JSON.parse(body) as unknown[]).length;
}

/**
 * The dashboard's first chart in Chromium: signs in as the admin once, then times loads of
 * `/dashboard` from navigation to the chart's ready state. Undefined with a reason printed by
 * the caller when playwright-core, Chromium or the page is missing.
 */
export async function timeFirstChart(
  url: string,
  runs: number,
): Promise<(Timing & { note?: string }) | { skipped: string }> {
  let playwright: typeof import('playwright-core');
  try {
    playwright = await import('playwright-core');
  } catch {
    return { skipped: 'playwright-core is not installed' };
  }
  let browser: import('playwright-core').Browser;
  try {
    browser = await playwright.chromium.launch({ executablePath: '/usr/bin/chromium' });
  } catch (err) {
    return {
      skipped: `Chromium does not start: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
    };
  }
  try {
    const page = await browser.newPage();
    const res = await page.goto(`${url}/dashboard`);
    if (res === null || res.status() !== 200)
      return { skipped: `/dashboard answered ${res?.status() ?? 'nothing'} (dashboard UI not merged)` };
    const password = page.locator('input[type=password]');
    if ((await password.count()) === 0) return { skipped: '/dashboard has no sign-in form' };
    await password.first().fill(BENCH_ADMIN_KEY);
    await Promise.all([page.waitForNavigation(), password.first().press('Enter')]);
    let note: string | undefined;
    if ((await page.locator('#usage-chart').count()) === 0) {
      // The form failed: say so, and sign in the way the form posts, from the page's origin.
      const text = (await page.locator('body').innerText()).replaceAll(/\s+/g, ' ').slice(0, 160);
      note = `the sign-in form did not open the dashboard (${page.url()}: ${text}); signed in by a direct POST`;
      await page.context().request.post(`${url}/dashboard/sign-in`, {
        form: { key: BENCH_ADMIN_KEY },
        headers: { origin: url },
        maxRedirects: 0,
      });
      await page.goto(`${url}/dashboard`);
      if ((await page.locator('#usage-chart').count()) === 0)
        return { skipped: `signing in as the admin did not open the dashboard (${text})` };
    }
    await page.waitForSelector(CHART_READY, { timeout: 60_000 });
    const timing = await timeRuns(runs, async () => {
      await page.goto(`${url}/dashboard`);
      await page.waitForSelector(CHART_READY, { timeout: 60_000 });
    });
    return note === undefined ? timing : { ...timing, note };
  } catch (err) {
    return {
      skipped: `the chart never reached ${CHART_READY}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
    };
  } finally {
    await browser.close();
  }
}
