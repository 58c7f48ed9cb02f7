// The dashboard page in a real Chromium against a real server and a seeded SQLite ledger:
// sign-in (admin, team, wrong key), the chart's series against the seeded records, every control,
// the top-consumers table (sort, keyboard, CSV), the estimated/partial share, sign-out, an ended
// session, the narrow layout, CSP cleanliness. Screenshots go to a temp dir.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { UsageRecord } from '../../src/ledger/record.js';
import {
  chartData,
  chartSeries,
  evaluate,
  chromiumMissing,
  launchChromium,
  seedLedger,
  signIn,
  startDashboard,
  waitForDashboard,
} from '../helpers/dashboard-browser.js';
import { ADMIN_KEY, configYaml, TEAM_B_KEY } from './api-fixture.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const SUBSCRIPTIONS = ['team-a', 'team-b', 'team-c'];

/** Four days before today (UTC), so every record is inside the default "last 30 days". */
const FIRST_DAY = Math.floor(Date.now() / DAY) * DAY - 4 * DAY;

/**
 * 24 records: 3 subscriptions × 4 days × 2 hours (10:00 gpt-4o, 15:00 gpt-4o-mini), counts that
 * differ per subscription, day and hour; 3 estimated and 1 partial; costs that add up exactly.
 */
function seedRecords(): UsageRecord[] {
  const records: UsageRecord[] = [];
  SUBSCRIPTIONS.forEach((subscription, s) => {
    for (let day = 0; day < 4; day++) {
      for (const hour of [10, 15]) {
        const prompt = 100 * (s + 1) + 10 * day + hour;
        const completion = 50 * (s + 1) + day;
        const estimated = (s === 2 && day === 0) || (s === 0 && day === 1 && hour === 10);
        const partial = s === 1 && day === 3 && hour === 15;
        records.push({
          id: `seed-${subscription}-${day}-${hour}`,
          time: FIRST_DAY + day * DAY + hour * HOUR + 60_000,
          api: 'openai',
          operation: 'chat.completions',
          subscription,
          model: hour === 10 ? 'gpt-4o' : 'gpt-4o-mini',
          stream: hour === 15,
          custom: { team: s === 0 ? 'blue' : 'red' },
          source: estimated ? 'estimated' : partial ? 'partial' : 'reported',
          status: 200,
          latencyMs: 100,
          promptTokens: prompt,
          completionTokens: completion,
          totalTokens: prompt + completion,
          cachedTokens: 20 * s,
          reasoningTokens: hour === 15 ? 7 : 0,
          cost: 0.25 * (s + 1),
        });
      }
    }
  });
  return records;
}

type Metric = 'totalTokens' | 'promptTokens' | 'cost' | 'reasoningTokens';

/** The series the chart must show: per subscription, per bucket start (epoch s), non-zero sums. */
function expectedSeries(
  records: readonly UsageRecord[],
  metric: Metric,
  bucket: number,
  keep: (r: UsageRecord) => boolean = () => true,
  group: (r: UsageRecord) => string = (r) => r.subscription!,
): Record<string, Record<number, number>> {
  const out: Record<string, Record<number, number>> = {};
  for (const record of records.filter(keep)) {
    const value = record[metric] ?? 0;
    if (value === 0) continue;
    const series = (out[group(record)] ??= {});
    const t = (Math.floor(record.time / bucket) * bucket) / 1000;
    series[t] = (series[t] ?? 0) + value;
  }
  return out;
}

async function tableGroups(page: Page): Promise<string[]> {
  return page.locator('#top-table tbody th').allTextContents();
}

const skip = chromiumMissing();

describe('dashboard page in Chromium', { skip }, () => {
  const records = seedRecords();
  let dir: string;
  let server: { url: string; close: () => Promise<void> };
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const cspViolations: string[] = [];
  const foreignRequests: string[] = [];

  async function newPage(viewport: { width: number; height: number }): Promise<[BrowserContext, Page]> {
    const ctx = await browser.newContext({ viewport, acceptDownloads: true });
    const p = await ctx.newPage();
    // Fail a wrong expectation in seconds rather than Playwright's default 30.
    p.setDefaultTimeout(10_000);
    p.on('console', (message) => {
      if (/Content[- ]Security[- ]Policy/i.test(message.text())) cspViolations.push(message.text());
    });
    p.on('request', (request) => {
      if (!request.url().startsWith(server.url)) foreignRequests.push(request.url());
    });
    return [ctx, p];
  }

  async function shot(p: Page, name: string): Promise<void> {
    // TOKENMETER_SCREENSHOT_DIR keeps them for a look; otherwise they go with the temp dir.
    const into = process.env.TOKENMETER_SCREENSHOT_DIR ?? dir;
    await p.screenshot({ path: join(into, `${name}.png`), fullPage: true });
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tokenmeter-dashboard-'));
    const ledgerPath = join(dir, 'ledger.db');
    await seedLedger(ledgerPath, records);
    server = await startDashboard(dir, configYaml(ledgerPath));
    browser = await launchChromium();
    [context, page] = await newPage({ width: 1280, height: 800 });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a wrong key with a visible error on the sign-in page', async () => {
    await page.goto(`${server.url}/dashboard`);
    await page.getByLabel('Admin key or subscription key').fill('not-a-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState();
    const error = page.locator('#sign-in-error');
    assert.ok(await error.isVisible(), 'the error paragraph is shown');
    assert.notEqual((await error.textContent())?.trim(), '');
    assert.equal(await page.locator('#usage-chart').count(), 0, 'no dashboard without a valid key');
    await shot(page, 'sign-in-error');
  });

  it('signs in as admin and charts total tokens per subscription, daily, equal to the seeded data', async () => {
    await signIn(page, server.url, ADMIN_KEY);
    assert.equal(await page.locator('#who').textContent(), 'Signed in as admin');
    assert.deepEqual(await chartSeries(page), expectedSeries(records, 'totalTokens', DAY));
    const data = await chartData(page);
    assert.deepEqual(
      data.labels,
      ['team-c', 'team-b', 'team-a'],
      'largest consumer first (bottom of the stack)',
    );
    assert.equal(data.times.length, 30, 'the default range is the last 30 UTC days, one bucket each');
    await shot(page, 'admin-daily');
  });

  it('shows the share of estimated and partial records', async () => {
    // 3 of 24 records estimated, 1 of 24 partial.
    assert.match(
      (await page.locator('#record-share').textContent()) ?? '',
      /^24 requests, 12\.5 % estimated, 4\.2 % partial$/,
    );
  });

  it('switches the metric to prompt tokens, reasoning tokens and cost', async () => {
    for (const metric of ['promptTokens', 'reasoningTokens', 'cost'] as const) {
      await page.selectOption('#metric', metric);
      await waitForDashboard(page);
      assert.deepEqual(await chartSeries(page), expectedSeries(records, metric, DAY), metric);
    }
    assert.match(
      (await page.locator('#chart-title').textContent()) ?? '',
      /^Cost per Subscription ID, daily$/,
    );
    await page.selectOption('#metric', 'totalTokens');
    await waitForDashboard(page);
  });

  it('switches to hourly buckets', async () => {
    await page.getByRole('radio', { name: 'Hourly' }).check();
    await waitForDashboard(page);
    assert.deepEqual(await chartSeries(page), expectedSeries(records, 'totalTokens', HOUR));
    const data = await chartData(page);
    assert.equal(data.times[1]! - data.times[0]!, 3600);
    await page.getByRole('radio', { name: 'Daily' }).check();
    await waitForDashboard(page);
  });

  it('applies a filter on a dimension picked from its values, then removes it', async () => {
    await page.selectOption('#filter-dim', 'model');
    await page.waitForSelector('#filter-value option[value="gpt-4o-mini"]', { state: 'attached' });
    assert.deepEqual(await page.locator('#filter-value option').allTextContents(), ['gpt-4o', 'gpt-4o-mini']);
    await page.selectOption('#filter-value', 'gpt-4o');
    await page.getByRole('button', { name: 'Add filter' }).click();
    await waitForDashboard(page);
    assert.deepEqual(
      await chartSeries(page),
      expectedSeries(records, 'totalTokens', DAY, (r) => r.model === 'gpt-4o'),
    );
    assert.match((await page.locator('#record-share').textContent()) ?? '', /^12 requests/);
    await shot(page, 'admin-filtered');
    await page.getByRole('button', { name: 'Remove filter Model = gpt-4o' }).click();
    await waitForDashboard(page);
    assert.deepEqual(await chartSeries(page), expectedSeries(records, 'totalTokens', DAY));
  });

  it('offers the range presets, in whole UTC days (24 h in hours)', async () => {
    const now = new Date();
    const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
    const daysIn = (year: number, month: number) => new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
    const expected: [string, number, string][] = [
      ['7d', 7, new Date(today - 6 * DAY).toISOString().slice(0, 10)],
      [
        'this-month',
        daysIn(now.getUTCFullYear(), now.getUTCMonth()),
        new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString().slice(0, 10),
      ],
      [
        'last-month',
        daysIn(now.getUTCFullYear(), now.getUTCMonth() - 1),
        new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1)).toISOString().slice(0, 10),
      ],
    ];
    for (const [preset, buckets, first] of expected) {
      await page.selectOption('#range', preset);
      await waitForDashboard(page);
      const data = await chartData(page);
      assert.equal(data.times.length, buckets, preset);
      assert.equal(new Date(data.times[0]! * 1000).toISOString().slice(0, 10), first, preset);
      assert.match(
        (await page.locator('#range-text').textContent()) ?? '',
        new RegExp(`^${first} to .* \\(UTC\\)$`),
      );
    }
    await page.selectOption('#range', '24h');
    await waitForDashboard(page);
    assert.equal(
      await page.getByRole('radio', { name: 'Hourly' }).isChecked(),
      true,
      '24 h switches to hourly',
    );
    assert.equal((await chartData(page)).times.length, 24);
    await page.getByRole('radio', { name: 'Daily' }).check();
    await waitForDashboard(page);
    await page.selectOption('#range', '30d');
    await waitForDashboard(page);
  });

  it('groups by a canonical dimension and by a custom one', async () => {
    await page.selectOption('#group-by', 'model');
    await waitForDashboard(page);
    const all = () => true;
    assert.deepEqual(
      await chartSeries(page),
      expectedSeries(records, 'totalTokens', DAY, all, (r) => r.model!),
    );
    assert.match(
      (await page.locator('#chart-title').textContent()) ?? '',
      /^Total tokens per model, daily$/i,
    );
    assert.deepEqual((await tableGroups(page)).sort(), ['gpt-4o', 'gpt-4o-mini']);

    assert.equal(await page.locator('#group-by option[value="team"]').textContent(), 'team (custom)');
    await page.selectOption('#group-by', 'team');
    await waitForDashboard(page);
    assert.deepEqual(
      await chartSeries(page),
      expectedSeries(records, 'totalTokens', DAY, all, (r) => r.custom.team!),
    );
    assert.deepEqual(await tableGroups(page), ['red', 'blue']);
    await page.selectOption('#group-by', 'subscription');
    await waitForDashboard(page);
  });

  it("shows the API's refusal of a query, naming the parameter, and recovers", async () => {
    await page.selectOption('#range', 'custom');
    await page.fill('#since', '2020-01-01');
    await page.fill('#until', '2025-12-31');
    await page.getByRole('radio', { name: 'Hourly' }).check();
    await page.getByRole('button', { name: 'Apply dates' }).click();
    await page.waitForSelector('#usage-chart[data-state="error"]');
    assert.match((await page.locator('#error').textContent()) ?? '', /\(parameter: interval\)$/);
    await page.getByRole('radio', { name: 'Daily' }).check();
    await waitForDashboard(page);
    assert.equal(await page.locator('#error').isVisible(), false);
    await page.selectOption('#range', '30d');
    await waitForDashboard(page);
  });

  it('applies a custom date range (UTC days, both included) and refuses an end before the start', async () => {
    const day = new Date(FIRST_DAY + DAY).toISOString().slice(0, 10);
    await page.selectOption('#range', 'custom');
    await page.fill('#since', day);
    await page.fill('#until', day);
    await page.getByRole('button', { name: 'Apply dates' }).click();
    await waitForDashboard(page);
    const data = await chartData(page);
    assert.deepEqual(data.times, [(FIRST_DAY + DAY) / 1000]);
    assert.deepEqual(
      await chartSeries(page),
      expectedSeries(
        records,
        'totalTokens',
        DAY,
        (r) => r.time >= FIRST_DAY + DAY && r.time < FIRST_DAY + 2 * DAY,
      ),
    );

    await page.fill('#until', new Date(FIRST_DAY).toISOString().slice(0, 10));
    await page.getByRole('button', { name: 'Apply dates' }).click();
    assert.equal(await page.locator('#error').textContent(), 'The end date is before the start date.');
    assert.ok(await page.locator('#error').isVisible());

    await page.selectOption('#range', '7d');
    await waitForDashboard(page);
    assert.equal(await page.locator('#error').isVisible(), false, 'a good query clears the error');
    assert.deepEqual(await chartSeries(page), expectedSeries(records, 'totalTokens', DAY));
  });

  it('hides and shows a series from the legend with a click or the keyboard', async () => {
    const before = await chartData(page);
    const button = page.locator('#legend button[data-series="team-b"]');
    await button.click();
    assert.equal(await button.getAttribute('aria-pressed'), 'false');
    await shot(page, 'admin-legend-hidden');
    await page.locator('#legend button[data-series="team-b"]').focus();
    await page.keyboard.press('Enter');
    assert.equal(
      await page.locator('#legend button[data-series="team-b"]').getAttribute('aria-pressed'),
      'true',
    );
    await page.keyboard.press('Space');
    assert.equal(
      await page.locator('#legend button[data-series="team-b"]').getAttribute('aria-pressed'),
      'false',
    );
    await page.keyboard.press('Space');
    assert.equal(
      await page.locator('#legend button[data-series="team-b"]').getAttribute('aria-pressed'),
      'true',
    );
    // Hiding is a view of the same query: the chart's data is unchanged.
    assert.deepEqual(await chartData(page), before);
  });

  it('sorts the top-consumers table by each column, with the mouse and the keyboard', async () => {
    assert.deepEqual(await tableGroups(page), ['team-c', 'team-b', 'team-a'], 'tokens, largest first');
    assert.equal(await page.locator('#top-table thead th').nth(2).getAttribute('aria-sort'), 'descending');

    await page.getByRole('button', { name: /^Subscription ID/ }).click();
    assert.deepEqual(await tableGroups(page), ['team-a', 'team-b', 'team-c']);
    assert.equal(await page.locator('#top-table thead th').first().getAttribute('aria-sort'), 'ascending');
    assert.equal(await page.locator('#top-table thead th').nth(2).getAttribute('aria-sort'), null);

    await page.getByRole('button', { name: /^Subscription ID/ }).focus();
    await page.keyboard.press('Enter');
    assert.deepEqual(await tableGroups(page), ['team-c', 'team-b', 'team-a']);
    assert.equal(await page.locator('#top-table thead th').first().getAttribute('aria-sort'), 'descending');

    // The focus stays on the header button that was pressed: Tab moves on to the next column.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Space');
    assert.equal(await page.locator('#top-table thead th').nth(1).getAttribute('aria-sort'), 'descending');
    for (const key of ['Cost', 'Share', 'Tokens']) {
      await page.getByRole('button', { name: new RegExp(`^${key}`) }).click();
      assert.deepEqual(await tableGroups(page), ['team-c', 'team-b', 'team-a'], key);
      await page.getByRole('button', { name: new RegExp(`^${key}`) }).click();
      assert.deepEqual(await tableGroups(page), ['team-a', 'team-b', 'team-c'], `${key} flipped`);
    }
  });

  it('downloads the table as CSV in its current order', async () => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download CSV' }).click(),
    ]);
    assert.match(
      download.suggestedFilename(),
      /^tokenmeter-top-subscription-\d{4}-\d\d-\d\d-to-\d{4}-\d\d-\d\d\.csv$/,
    );
    const csv = await readFile(await download.path(), 'utf8');
    const tokens = SUBSCRIPTIONS.map((s) =>
      records.filter((r) => r.subscription === s).reduce((sum, r) => sum + r.totalTokens!, 0),
    );
    const all = tokens.reduce((a, b) => a + b, 0);
    const expected = [
      'Subscription ID,Requests,Total tokens,Cost (USD),Share of tokens (%)',
      ...SUBSCRIPTIONS.map(
        (s, i) => `${s},8,${tokens[i]},${8 * 0.25 * (i + 1)},${Math.round((tokens[i]! / all) * 10000) / 100}`,
      ),
      '',
    ].join('\r\n');
    assert.equal(csv, expected);
  });

  it('keeps the keyboard tab order and shows a focus outline', async () => {
    await page.reload();
    await waitForDashboard(page);
    const stops: string[] = [];
    for (let i = 0; i < 7; i++) {
      await page.keyboard.press('Tab');
      stops.push(
        await evaluate<string>(
          page,
          `(() => {
            const active = document.activeElement;
            if (!active) return '';
            if (active.type === 'radio') return 'radio:' + active.value;
            return active.id || active.textContent.trim() || active.tagName;
          })()`,
        ),
      );
    }
    assert.deepEqual(stops, [
      'Skip to the chart',
      'Sign out',
      'range',
      'radio:1d',
      'metric',
      'group-by',
      'filter-dim',
    ]);
    const outline = await evaluate<string>(page, 'getComputedStyle(document.activeElement).outlineStyle');
    assert.equal(outline, 'solid', 'the focused control shows an outline');
  });

  it('uses a palette of at least 24 distinct colours readable on white', async () => {
    const palette = await evaluate<string[]>(
      page,
      "import('/dashboard/assets/palette.js').then((module) => [...module.PALETTE])",
    );
    assert.ok(palette.length >= 24);
    assert.equal(new Set(palette).size, palette.length);
    const luminance = (hex: string): number => {
      const [r, g, b] = [1, 3, 5].map((i) => {
        const c = Number.parseInt(hex.slice(i, i + 2), 16) / 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
    };
    for (const colour of palette)
      assert.ok(1.05 / (luminance(colour) + 0.05) >= 3, `${colour} contrast on white`);
  });

  it('writes CSV cells safely and refuses incomplete custom dates (the page modules, in the page)', async () => {
    const csv = await evaluate<string>(
      page,
      `import('/dashboard/assets/csv.js').then((m) => m.toCsv([['=HYPERLINK(1)', 'a,b', 'say "hi"', null, -3, 'line\\nbreak']]))`,
    );
    assert.equal(csv, `'=HYPERLINK(1),"a,b","say ""hi""",,-3,"line\nbreak"\r\n`);
    const ranges = await evaluate<unknown[]>(
      page,
      `import('/dashboard/assets/range.js').then((m) => [
        m.customRange('', '2026-01-02'),
        m.customRange('2026-01-02', ''),
        m.customRange('2026-01-02', '2026-01-01'),
        m.customRange('2026-01-01', '2026-01-01'),
      ])`,
    );
    assert.deepEqual(ranges, [
      { error: 'Choose a start date.' },
      { error: 'Choose an end date.' },
      { error: 'The end date is before the start date.' },
      { since: Date.UTC(2026, 0, 1), until: Date.UTC(2026, 0, 2) },
    ]);
  });

  it('goes back to the sign-in page when the session has ended', async () => {
    await context.clearCookies();
    await page.selectOption('#metric', 'promptTokens');
    await page.waitForSelector('#key');
    assert.equal(new URL(page.url()).pathname, '/dashboard');
  });

  it('signs out with the sign-out button', async () => {
    await signIn(page, server.url, ADMIN_KEY);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForSelector('#key');
    const status = await evaluate<number>(page, "fetch('/api/session').then((r) => r.status)");
    assert.equal(status, 401);
  });

  it('signs in as a team and shows its own subscription only', async () => {
    await signIn(page, server.url, TEAM_B_KEY);
    assert.equal(await page.locator('#who').textContent(), 'Signed in as subscription team-b');
    const expected = expectedSeries(records, 'totalTokens', DAY, (r) => r.subscription === 'team-b');
    assert.deepEqual(await chartSeries(page), expected);
    assert.deepEqual(await tableGroups(page), ['team-b']);
    assert.match(
      (await page.locator('#record-share').textContent()) ?? '',
      /^8 requests, 0 % estimated, 12\.5 % partial$/,
    );
    await shot(page, 'team-b');
  });

  it('fits a 390 px wide screen without horizontal scrolling', async () => {
    const [narrowContext, narrow] = await newPage({ width: 390, height: 844 });
    try {
      await signIn(narrow, server.url, ADMIN_KEY);
      const overflow = await evaluate<number>(narrow, 'document.documentElement.scrollWidth');
      assert.ok(overflow <= 390, `page is ${overflow}px wide`);
      for (const selector of [
        '#usage-chart canvas',
        '#top-table',
        '#range',
        '#metric',
        '#group-by',
        '#legend',
      ]) {
        const box = await narrow.locator(selector).first().boundingBox();
        assert.ok(
          box && box.x >= 0 && box.x + box.width <= 390,
          `${selector} inside the screen: ${JSON.stringify(box)}`,
        );
      }
      assert.deepEqual(await chartSeries(narrow), expectedSeries(records, 'totalTokens', DAY));
      await shot(narrow, 'admin-narrow');
    } finally {
      await narrowContext.close();
    }
  });

  it('made no request to another origin and broke no CSP rule', () => {
    assert.deepEqual(foreignRequests, []);
    assert.deepEqual(cspViolations, []);
  });
});
