import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import { CliInputError } from '../../src/cli/cli-error.js';
import { addReportCommand } from '../../src/cli/report-command.js';
import { addUsageCommand } from '../../src/cli/usage-command.js';
import type { UsageRecord } from '../../src/ledger/record.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { makeRecord, makeTempDir } from '../ledger/fixtures/records.js';

/** `tokenmeter report`: a month of a real SQLite ledger, in every format, reconciled with `usage`. */

const HOSTILE_OWNER = '<script>alert(1)</script>@evil.example';

function configText(ledgerPath: string, timezone: string): string {
  return [
    `ledger: sqlite:${ledgerPath}`,
    'backends:',
    '  - { id: sim, type: simulator }',
    '  - { id: ptu, type: simulator, monthlyCost: 100 }',
    'apis: [{ id: openai, path: /openai/v1, type: openai, backend: sim }]',
    'products: [{ id: std, apis: [openai] }]',
    'subscriptions:',
    '  - { id: team-a, key: team-a-secret, product: std, owner: a@example.com, costCenter: CC-1 }',
    `  - { id: team-b, key: team-b-secret, product: std, owner: "${HOSTILE_OWNER}", costCenter: CC-1 }`,
    '  - { id: team-c, key: team-c-secret, product: std, owner: c@example.com, costCenter: CC-2 }',
    `reports: { timezone: ${timezone} }`,
    '',
  ].join('\n');
}

const tokens = (prompt: number, completion: number): Partial<UsageRecord> => ({
  promptTokens: prompt,
  completionTokens: completion,
  totalTokens: prompt + completion,
});

// March 2026: Berlin is UTC+1 until March 29, then UTC+2; its March is [Feb 28 23:00Z, Mar 31 22:00Z).
const RECORDS: UsageRecord[] = [
  makeRecord({
    id: 'utc-before',
    time: Date.UTC(2026, 1, 28, 22, 59, 59, 999),
    subscription: 'team-a',
    ...tokens(1, 0),
  }),
  makeRecord({
    id: 'berlin-first',
    time: Date.UTC(2026, 1, 28, 23),
    subscription: 'team-a',
    ...tokens(2, 0),
  }),
  makeRecord({
    id: 'utc-first',
    time: Date.UTC(2026, 2, 1),
    subscription: 'team-a',
    ...tokens(4, 0),
    cost: 0.1,
  }),
  makeRecord({
    id: 'a-ptu',
    time: Date.UTC(2026, 2, 10, 12),
    subscription: 'team-a',
    backend: 'ptu',
    model: 'gpt-4o',
    ...tokens(100, 0),
    cachedTokens: 40,
    reasoningTokens: 0,
    cost: 0.2,
    custom: { appId: 'app-1' },
  }),
  makeRecord({
    id: 'b-ptu',
    time: Date.UTC(2026, 2, 11, 12),
    subscription: 'team-b',
    backend: 'ptu',
    model: 'gpt-4o-mini',
    ...tokens(150, 50),
    reasoningTokens: 20,
    cacheWriteTokens: 7,
    cost: 0.7,
    custom: { appId: 'app-2' },
  }),
  makeRecord({
    id: 'c-unpriced',
    time: Date.UTC(2026, 2, 12, 12),
    subscription: 'team-c',
    backend: 'sim',
    model: 'house-model',
    ...tokens(30, 3),
    custom: { appId: 'app-1' },
  }),
  makeRecord({
    id: 'berlin-last',
    time: Date.UTC(2026, 2, 31, 21, 59, 59, 999),
    subscription: 'team-b',
    ...tokens(8, 0),
  }),
  makeRecord({
    id: 'utc-last',
    time: Date.UTC(2026, 2, 31, 23, 59, 59, 999),
    subscription: 'team-c',
    ...tokens(16, 0),
  }),
  makeRecord({ id: 'utc-after', time: Date.UTC(2026, 3, 1), subscription: 'team-c', ...tokens(32, 0) }),
];

type JsonRow = Record<string, unknown>;

describe('tokenmeter report', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let utcConfig: string;
  let berlinConfig: string;
  let ledgerPath: string;

  before(async () => {
    ({ dir, cleanup } = await makeTempDir());
    ledgerPath = join(dir, 'ledger.db');
    utcConfig = join(dir, 'utc.yaml');
    berlinConfig = join(dir, 'berlin.yaml');
    await writeFile(utcConfig, configText(ledgerPath, 'UTC'));
    await writeFile(berlinConfig, configText(ledgerPath, 'Europe/Berlin'));
    const ledger = createSqliteLedger(ledgerPath);
    for (const record of RECORDS) await ledger.append(record);
    await ledger.close();
  });
  after(() => cleanup());

  async function report(args: string[]): Promise<string> {
    let out = '';
    const program = new Command().exitOverride();
    addReportCommand(program, { stdout: (t) => (out += t) });
    await program.parseAsync(['report', ...args], { from: 'user' });
    return out;
  }

  async function json(args: string[]): Promise<JsonRow[]> {
    return JSON.parse(await report([...args, '--format', 'json'])) as JsonRow[];
  }

  async function usageTotal(since: string, until: string): Promise<JsonRow> {
    let out = '';
    const program = new Command().exitOverride();
    addUsageCommand(program, () => ({ url: `sqlite:${ledgerPath}` }), { stdout: (t) => (out += t) });
    await program.parseAsync(['usage', '--by', '', '--since', since, '--until', until, '--format', 'json'], {
      from: 'user',
    });
    const rows = JSON.parse(out) as JsonRow[];
    assert.equal(rows.length, 1);
    return rows[0] ?? {};
  }

  const sum = (rows: readonly JsonRow[], key: string): number =>
    Math.round(rows.reduce((a, r) => a + Number(r[key] ?? 0), 0) * 1e6) / 1e6;

  it('json: one row per subscription with exactly the documented keys, totals equal to usage', async () => {
    const rows = await json(['--month', '2026-03', '--config', utcConfig]);
    assert.deepEqual(
      rows.map((r) => r['subscription']),
      ['team-a', 'team-b', 'team-c'],
    );
    for (const row of rows)
      assert.deepEqual(Object.keys(row), [
        'subscription',
        'owner',
        'costCenter',
        'requests',
        'promptTokens',
        'completionTokens',
        'totalTokens',
        'cachedTokens',
        'cacheWriteTokens',
        'reasoningTokens',
        'cost',
        'capacityCost',
        'unpricedTokens',
        'costByModel',
      ]);
    const usage = await usageTotal('2026-03-01T00:00Z', '2026-04-01T00:00Z');
    for (const key of [
      'requests',
      'promptTokens',
      'completionTokens',
      'totalTokens',
      'cachedTokens',
      'cacheWriteTokens',
      'reasoningTokens',
      'unpricedTokens',
    ])
      assert.equal(sum(rows, key), usage[key], key);
    // cost = the stored costs + the whole capacity of the month.
    assert.equal(sum(rows, 'cost'), Math.round((Number(usage['cost']) + 100) * 1e6) / 1e6);
    assert.equal(sum(rows, 'capacityCost'), 100);
    const a = rows[0] ?? {};
    assert.equal(a['owner'], 'a@example.com');
    assert.equal(a['costCenter'], 'CC-1');
    assert.deepEqual(a['costByModel'], { '(none)': 0.1, 'gpt-4o': 0.2 });
    const c = rows[2] ?? {};
    assert.equal(c['unpricedTokens'], 33 + 16); // c-unpriced and utc-last have no price
    assert.equal(c['cost'], null, 'team-c has no priced record and no capacity: unknown, not free');
  });

  it('capacity: split by tokens on the backend, summing exactly to monthlyCost', async () => {
    const rows = await json(['--month', '2026-03', '--config', utcConfig]);
    // team-a 100 tokens on ptu, team-b 200: a third and two thirds, the remainder to team-b.
    assert.deepEqual(
      rows.map((r) => r['capacityCost']),
      [33.333333, 66.666667, 0],
    );
    assert.equal(rows[1]?.['cost'], Math.round((0.7 + 66.666667) * 1e6) / 1e6);
    const md = await report(['--month', '2026-03', '--config', utcConfig]);
    assert.match(md, /\| ↳ capacity ptu \|(?: {2}\|)+ 33\.333333 \|/);
  });

  it('UTC months: [day 1 00:00Z, next month day 1 00:00Z)', async () => {
    const rows = await json(['--month', '2026-03', '--config', utcConfig]);
    // utc-first, a-ptu, b-ptu, c-unpriced, berlin-last, utc-last; not utc-before, berlin-first, utc-after.
    assert.equal(sum(rows, 'requests'), 6);
    assert.equal(sum(rows, 'totalTokens'), 4 + 100 + 200 + 33 + 8 + 16);
  });

  it('months in reports.timezone: local midnight to local midnight, across a DST change', async () => {
    const rows = await json(['--month', '2026-03', '--config', berlinConfig]);
    // berlin-first (23:00Z on Feb 28) is in; utc-last (01:59 on April 1 in Berlin) is out.
    assert.equal(sum(rows, 'requests'), 6);
    assert.equal(sum(rows, 'totalTokens'), 2 + 4 + 100 + 200 + 33 + 8);
    const usage = await usageTotal('2026-02-28T23:00Z', '2026-03-31T22:00Z');
    assert.equal(sum(rows, 'totalTokens'), usage['totalTokens']);
  });

  it('--by costCenter sums the subscriptions of each cost center', async () => {
    const rows = await json(['--month', '2026-03', '--config', utcConfig, '--by', 'costCenter']);
    assert.deepEqual(
      rows.map((r) => [r['costCenter'], r['totalTokens'], r['owner'], r['capacityCost']]),
      [
        ['CC-1', 4 + 100 + 200 + 8, null, 100],
        ['CC-2', 33 + 16, 'c@example.com', 0],
      ],
    );
    assert.equal(Object.keys(rows[0] ?? {})[0], 'costCenter');
  });

  it('--by appId groups by a custom dimension, records without it in a row of their own', async () => {
    const rows = await json(['--month', '2026-03', '--config', utcConfig, '--by', 'appId']);
    assert.deepEqual(
      rows.map((r) => [r['appId'], r['totalTokens'], r['cost']]),
      [
        [null, 4 + 8 + 16, 0.1],
        ['app-1', 133, Math.round((0.2 + 33.333333) * 1e6) / 1e6],
        ['app-2', 200, Math.round((0.7 + 66.666667) * 1e6) / 1e6],
      ],
    );
  });

  it('csv, md and html carry the same totals as json', async () => {
    const args = ['--month', '2026-03', '--config', utcConfig];
    const rows = await json(args);
    const totalTokens = sum(rows, 'totalTokens');
    const cost = sum(rows, 'cost');

    const csv = (await report([...args, '--format', 'csv'])).trimEnd().split('\r\n');
    const header = (csv[0] ?? '').split(',');
    const cells = csv.slice(1).map((line) => line.split(','));
    const column = (name: string): number =>
      cells.reduce((a, c) => a + Number(c[header.indexOf(name)] || 0), 0);
    assert.equal(csv.length, 4);
    assert.equal(column('totalTokens'), totalTokens);
    assert.equal(Math.round(column('cost') * 1e6) / 1e6, cost);
    assert.ok(header.includes('cost.gpt-4o'));

    const money = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 6 });
    const count = new Intl.NumberFormat('en-US').format(totalTokens);
    const md = await report(args);
    const totalLine = md.split('\n').find((l) => l.startsWith('| **TOTAL**')) ?? '';
    assert.ok(totalLine.includes(`| ${count} |`), totalLine);
    assert.ok(totalLine.endsWith(`| ${money.format(cost)} |`), totalLine);

    const html = await report([...args, '--format', 'html']);
    const totalRow = /<tr class="total">(.*?)<\/tr>/.exec(html)?.[1] ?? '';
    assert.ok(totalRow.includes(`<td>${count}</td>`), totalRow);
    assert.ok(totalRow.endsWith(`<td>${money.format(cost)}</td>`), totalRow);
  });

  it('html is self-contained and escapes what config and clients supplied', async () => {
    const html = await report(['--month', '2026-03', '--config', utcConfig, '--format', 'html']);
    assert.ok(html.startsWith('<!DOCTYPE html>'));
    assert.doesNotMatch(html, /https?:|\/\/[a-z]|<script|<link|<img|@import|url\(/i);
    assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;@evil.example'));
    assert.match(html, /<svg [^>]*>[\s\S]*<rect [^>]*fill="hsl/);
  });

  it('--out writes the report to a file', async () => {
    const out = join(dir, 'march.json');
    assert.equal(
      await report(['--month', '2026-03', '--config', utcConfig, '--format', 'json', '--out', out]),
      '',
    );
    assert.equal((JSON.parse(await readFile(out, 'utf8')) as JsonRow[]).length, 3);
  });

  it('bad input exits 2 before the ledger is read', async () => {
    const bad = [
      ['--month', '2026-13'],
      ['--month', 'March'],
      ['--month', '2026-03', '--by', 'nosuchdim'],
      ['--month', '2026-03', '--by', 'subscription,model'],
      ['--month', '2026-03', '--format', 'pdf'],
    ];
    for (const args of bad)
      await assert.rejects(
        report([...args, '--config', utcConfig]),
        (err: unknown) => err instanceof CliInputError && err.exitCode === 2,
        args.join(' '),
      );
  });
});
