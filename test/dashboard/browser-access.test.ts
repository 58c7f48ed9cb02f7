// The dashboard's doors and frame in a real Chromium against the real dashboard server: a wrong
// key, sign-out, an ended session, a team that sees only its own subscription, the keyboard tab
// order and focus, the 390 px layout, the palette's contrast, CSV escaping, no CSP violation.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import {
  chartSeries,
  chromiumMissing,
  evaluate,
  signIn,
  startBrowserFixture,
  waitForDashboard,
  type BrowserFixture,
} from '../helpers/dashboard-browser.js';
import { DAY, expectedSeries } from '../helpers/dashboard-seed.js';
import { ADMIN_KEY, TEAM_B_KEY } from './api-fixture.js';

async function tableGroups(page: Page): Promise<string[]> {
  return page.locator('#top-table tbody th').allTextContents();
}

describe('dashboard sign-in, access and layout in Chromium', { skip: chromiumMissing() }, () => {
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

  it('refuses a wrong key with a visible error on the sign-in page', async () => {
    await page.goto(`${fx.url}/dashboard`);
    await page.getByLabel('Admin key or subscription key').fill('not-a-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState();
    const error = page.locator('#sign-in-error');
    assert.ok(await error.isVisible(), 'the error paragraph is shown');
    assert.notEqual((await error.textContent())?.trim(), '');
    assert.equal(await page.locator('#usage-chart').count(), 0, 'no dashboard without a valid key');
    await fx.shot(page, 'sign-in-error');
  });

  it('signs in as admin', async () => {
    await signIn(page, fx.url, ADMIN_KEY);
    assert.equal(await page.locator('#who').textContent(), 'Signed in as admin');
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

  it('folds series past the palette into one "Other" series (the page module, in the page)', async () => {
    const folded = await evaluate<{ labels: string[]; values: Record<string, number[]> }>(
      page,
      `import('/dashboard/assets/series.js').then((m) => {
        const labels = Array.from({ length: 30 }, (_, i) => 'g' + i);
        const values = Object.fromEntries(labels.map((label, i) => [label, [30 - i, 1]]));
        return m.foldSeries({ labels, times: [0, 86400], values }, 24);
      })`,
    );
    assert.equal(folded.labels.length, 24);
    assert.equal(folded.labels[22], 'g22');
    assert.equal(folded.labels[23], 'Other (7 groups)');
    // g23..g29 hold 7..1 in the first bucket and 1 each in the second.
    assert.deepEqual(folded.values['Other (7 groups)'], [28, 7]);
  });

  it('keeps the view in the address: a reload or a shared link shows the same chart', async () => {
    await page.selectOption('#metric', 'promptTokens');
    await waitForDashboard(page);
    await page.selectOption('#filter-dim', 'model');
    await page.waitForSelector('#filter-value option[value="gpt-4o"]', { state: 'attached' });
    await page.selectOption('#filter-value', 'gpt-4o');
    await page.getByRole('button', { name: 'Add filter' }).click();
    await waitForDashboard(page);
    const link = page.url();
    assert.match(new URL(link).hash, /metric=promptTokens/);
    const expected = expectedSeries(fx.records, 'promptTokens', DAY, (r) => r.model === 'gpt-4o');

    const [otherContext, other] = await fx.newPage({ width: 1280, height: 800 });
    try {
      // Signed out, the link shows the sign-in form; signing in lands on the linked view.
      await other.goto(link);
      await other.getByLabel('Admin key or subscription key').fill(ADMIN_KEY);
      await other.getByRole('button', { name: 'Sign in' }).click();
      await waitForDashboard(other);
      assert.equal(new URL(other.url()).hash, new URL(link).hash);
      assert.equal(await other.locator('#metric').inputValue(), 'promptTokens');
      assert.equal(await other.locator('#active-filters li').count(), 1);
      assert.deepEqual(await chartSeries(other), expected);

      // A fragment is user input: unknown names fall back to the defaults.
      await other.goto(
        `${fx.url}/dashboard#range=custom&from=x&metric=nope&by=nope&where=nope:1&interval=5m`,
      );
      await other.reload();
      await waitForDashboard(other);
      assert.equal(await other.locator('#metric').inputValue(), 'totalTokens');
      assert.equal(await other.locator('#range').inputValue(), '30d');
      assert.equal(await other.locator('#active-filters li').count(), 0);
      assert.deepEqual(await chartSeries(other), expectedSeries(fx.records, 'totalTokens', DAY));
    } finally {
      await otherContext.close();
    }
  });

  it('goes back to the sign-in page when the session has ended', async () => {
    await context.clearCookies();
    await page.selectOption('#metric', 'promptTokens');
    await page.waitForSelector('#key');
    assert.equal(new URL(page.url()).pathname, '/dashboard');
  });

  it('signs out with the sign-out button', async () => {
    await signIn(page, fx.url, ADMIN_KEY);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForSelector('#key');
    const status = await evaluate<number>(page, "fetch('/api/session').then((r) => r.status)");
    assert.equal(status, 401);
  });

  it('signs in as a team and shows its own subscription only', async () => {
    await signIn(page, fx.url, TEAM_B_KEY);
    assert.equal(await page.locator('#who').textContent(), 'Signed in as subscription team-b');
    const expected = expectedSeries(fx.records, 'totalTokens', DAY, (r) => r.subscription === 'team-b');
    assert.deepEqual(await chartSeries(page), expected);
    assert.deepEqual(await tableGroups(page), ['team-b']);
    assert.match(
      (await page.locator('#record-share').textContent()) ?? '',
      /^8 requests, 0 % estimated, 12\.5 % partial$/,
    );
    await fx.shot(page, 'team-b');
  });

  it('fits a 390 px wide screen without horizontal scrolling', async () => {
    const [narrowContext, narrow] = await fx.newPage({ width: 390, height: 844 });
    try {
      await signIn(narrow, fx.url, ADMIN_KEY);
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
      assert.deepEqual(await chartSeries(narrow), expectedSeries(fx.records, 'totalTokens', DAY));
      await fx.shot(narrow, 'admin-narrow');
    } finally {
      await narrowContext.close();
    }
  });

  it('made no request to another origin and broke no CSP rule', () => {
    assert.deepEqual(fx.foreignRequests, []);
    assert.deepEqual(fx.cspViolations, []);
  });
});
