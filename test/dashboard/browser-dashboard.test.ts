// The dashboard page in a real Chromium against the real dashboard server and a seeded SQLite
// ledger, signed in as admin: the chart's series against the seeded records, every control
// (metric, interval, range presets and custom dates, group by, filters, legend), the estimated /
// partial share, an API refusal, the top-consumers table (sort, keyboard, CSV).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { readFile } from 'node:fs/promises';
import {
  chartData,
  chartSeries,
  chromiumMissing,
  signIn,
  startBrowserFixture,
  waitForDashboard,
  type BrowserFixture,
} from '../helpers/dashboard-browser.js';
import { DAY, expectedSeries, FIRST_DAY, HOUR, SUBSCRIPTIONS } from '../helpers/dashboard-seed.js';
import { ADMIN_KEY } from './api-fixture.js';

async function tableGroups(page: Page): Promise<string[]> {
  return page.locator('#top-table tbody th').allTextContents();
}

describe('dashboard page in Chromium, as admin', { skip: chromiumMissing() }, () => {
  let fx: BrowserFixture;
  let context: BrowserContext;
  let page: Page;

  before(async () => {
    fx = await startBrowserFixture();
    [context, page] = await fx.newPage({ width: 1280, height: 800 });
  });

  after(async () => {
    await context?.close();
    await fx?.close();
  });

  it('signs in as admin and charts total tokens per subscription, daily, equal to the seeded data', async () => {
    await signIn(page, fx.url, ADMIN_KEY);
    assert.equal(await page.locator('#who').textContent(), 'Signed in as admin');
    assert.deepEqual(await chartSeries(page), expectedSeries(fx.records, 'totalTokens', DAY));
    const data = await chartData(page);
    assert.deepEqual(
      data.labels,
      ['team-c', 'team-b', 'team-a'],
      'largest consumer first (bottom of the stack)',
    );
    assert.equal(data.times.length, 30, 'the default range is the last 30 UTC days, one bucket each');
    await fx.shot(page, 'admin-daily');
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
      assert.deepEqual(await chartSeries(page), expectedSeries(fx.records, metric, DAY), metric);
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
    assert.deepEqual(await chartSeries(page), expectedSeries(fx.records, 'totalTokens', HOUR));
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
      expectedSeries(fx.records, 'totalTokens', DAY, (r) => r.model === 'gpt-4o'),
    );
    assert.match((await page.locator('#record-share').textContent()) ?? '', /^12 requests/);
    await fx.shot(page, 'admin-filtered');
    await page.getByRole('button', { name: 'Remove filter Model = gpt-4o' }).click();
    await waitForDashboard(page);
    assert.deepEqual(await chartSeries(page), expectedSeries(fx.records, 'totalTokens', DAY));
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
      expectedSeries(fx.records, 'totalTokens', DAY, all, (r) => r.model!),
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
      expectedSeries(fx.records, 'totalTokens', DAY, all, (r) => r.custom.team!),
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
        fx.records,
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
    assert.deepEqual(await chartSeries(page), expectedSeries(fx.records, 'totalTokens', DAY));
  });

  it('hides and shows a series from the legend with a click or the keyboard', async () => {
    const before = await chartData(page);
    const button = page.locator('#legend button[data-series="team-b"]');
    await button.click();
    assert.equal(await button.getAttribute('aria-pressed'), 'false');
    await fx.shot(page, 'admin-legend-hidden');
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
      fx.records.filter((r) => r.subscription === s).reduce((sum, r) => sum + r.totalTokens!, 0),
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

  it('made no request to another origin and broke no CSP rule', () => {
    assert.deepEqual(fx.foreignRequests, []);
    assert.deepEqual(fx.cspViolations, []);
  });
});
