import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { formatCount } from '../src/cli/progress-bar.js';
import { parseConfig } from '../src/config/load-config.js';
import type { UsageRecord } from '../src/ledger/record.js';
import type { UsageQuery } from '../src/reports/usage-query.js';
import { createSqliteLedger, type SqliteLedger } from '../src/ledger/sqlite-ledger.js';
import { createCallPricer } from '../src/pricing/call-pricer.js';
import { generateTraffic } from '../src/synthetic/generate-traffic.js';
import {
  startDashboard,
  fetchDailyUsage,
  timeFirstChart,
  timeRuns,
  type Timing,
} from './ledger-dashboard.js';
import { BENCH_SHAPE, benchConfigText, prepareBenchLedger, type BenchLedger } from './ledger-fixtures.js';
import { pgBenchWanted, runPgLedgerBench } from './ledger-bench-postgres.js';

/**
 * Ledger benchmark (issue #10, "Speed"), run by `npm run bench` after the proxy bench, or alone:
 *
 *   node --import tsx bench/ledger-bench.ts [--quick]
 *   BENCH_LEDGER=0                      skip this section (npm run bench: the proxy bench only)
 *   BENCH_LEDGER_RECORDS=2000000,10000000   ledger sizes (--quick: 200000)
 *   BENCH_LEDGER_DIR=/path              where generated ledgers are kept and reused
 *                                       (default: $TMPDIR/tokenmeter-bench-ledgers)
 *   BENCH_LEDGER_QUERY_RUNS=7           query runs after the first (--quick: 3)
 *   BENCH_LEDGER_WRITE_RECORDS=333000   records appended per write-cost run, one day (--quick: 20000)
 *   BENCH_ROUNDS=3                      write-cost rounds, rollups off and on alternating (--quick: 1)
 *   BENCH_LEDGER_PG=1                   also the PostgreSQL ledger, on a private server
 *   BENCH_LEDGER_PG_URL=postgres://…    … or on this server (a database is created and dropped)
 *   BENCH_LEDGER_PG_RECORDS=2000000     records shipped into PostgreSQL (--quick: 200000)
 *
 * Measures: generation time and rate (when a ledger is generated rather than reused), the
 * 30-day daily query by subscription through `ledger.query` and through `GET /api/usage`
 * (`tokenmeter dashboard`, when the build has it), the rollups' write cost (µs per record with
 * rollups on minus off, appends in batches of 1 and of 500) and the dashboard's first chart in
 * Chromium. Prints a markdown section on stdout, each figure beside its target; progress on stderr.
 */

const DAY_MS = 86_400_000;
const REPO_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const quick = process.argv.includes('--quick');

const wholeNumber = (value: string | undefined, fallback: number): number => {
  const n = Number(value);
  return value !== undefined && Number.isSafeInteger(n) && n > 0 ? n : fallback;
};
const sizes = (process.env.BENCH_LEDGER_RECORDS ?? (quick ? '200000' : '2000000,10000000'))
  .split(',')
  .map((s) => wholeNumber(s.trim().replaceAll('_', ''), 0))
  .filter((n) => n > 0);
const cacheDir = process.env.BENCH_LEDGER_DIR ?? join(tmpdir(), 'tokenmeter-bench-ledgers');
const queryRuns = wholeNumber(process.env.BENCH_LEDGER_QUERY_RUNS, quick ? 3 : 7);
const writeRecords = wholeNumber(process.env.BENCH_LEDGER_WRITE_RECORDS, quick ? 20_000 : 333_000);
/**
 * The write-cost records are one day of traffic: 333,000 a day is the rate of 10 million a
 * month, the ledger the targets speak of. What the rollups cost depends on how many records share
 * an hour and a tuple (the flush writes a row per tuple and hour): spread over 30 days, 200,000
 * records are nearly one row each, the worst case (measured 19–22 µs per record).
 */
const WRITE_COST_DAYS = 1;
const rounds = quick ? 1 : wholeNumber(process.env.BENCH_ROUNDS, 3);
const serverTimeoutMs = wholeNumber(process.env.BENCH_LEDGER_SERVER_TIMEOUT_S, 600) * 1000;

/** The targets, printed beside the figures. */
const TARGETS = {
  generate2M: '< 120 s for 2M',
  query2M: '< 100 ms',
  query10M: '< 300 ms',
  firstChart: '< 1 s (10M)',
  writeCost: '≤ 5 µs',
};

const progress = (message: string): void => void process.stderr.write(`[bench] ${message}\n`);
const ms = (t: number): string => (t < 10 ? t.toFixed(2) : t.toFixed(0));
const queryTarget = (records: number): string =>
  records <= 2_000_000 ? TARGETS.query2M : records >= 10_000_000 ? TARGETS.query10M : '—';

/** The 30-day daily query by subscription that the dashboard's first chart asks for. */
function dailyQuery(ledger: BenchLedger): UsageQuery {
  return {
    by: ['subscription'],
    since: ledger.now - 30 * DAY_MS,
    until: ledger.now,
    interval: DAY_MS,
    where: [],
  };
}

async function timeLedgerQuery(bench: BenchLedger): Promise<Timing> {
  const ledger = createSqliteLedger(bench.path);
  try {
    return await timeRuns(queryRuns, () => ledger.query(dailyQuery(bench)));
  } finally {
    await ledger.close();
  }
}

/** Whether this build's ledger keeps rollup tables (the rollups branch merged). */
function hasRollupTables(path: string): boolean {
  const db = new Database(path, { readonly: true });
  try {
    return (
      db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name LIKE '%rollup%'").get() !==
      undefined
    );
  } finally {
    db.close();
  }
}

/** µs per record appending `records` in batches of `batch` (append × batch in one turn, then await). */
async function appendCost(
  ledger: SqliteLedger,
  records: readonly UsageRecord[],
  batch: number,
): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < records.length; i += batch) {
    const appends: Promise<void>[] = [];
    for (const record of records.slice(i, i + batch)) appends.push(ledger.append(record));
    await Promise.all(appends);
  }
  return ((performance.now() - started) * 1000) / records.length;
}

interface WriteCost {
  batch: number;
  offUs: number;
  onUs: number;
}

/**
 * The rollups' cost on the write path: the same records appended to fresh ledgers with rollups
 * off and on, alternating, `rounds` times; the median of each. Undefined when this build keeps
 * no rollups (nothing to compare).
 */
async function measureWriteCost(): Promise<WriteCost[] | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'tm-write-cost-'));
  try {
    const config = parseConfig(benchConfigText(join(dir, 'unused.db')), 'bench.yaml');
    const records: UsageRecord[] = [];
    const collect = {
      append: (r: UsageRecord): Promise<void> => {
        records.push(r);
        return Promise.resolve();
      },
    };
    await generateTraffic(
      {
        records: writeRecords,
        ...BENCH_SHAPE,
        days: WRITE_COST_DAYS,
        now: Date.now(),
        gateway: 'gw-bench',
        location: 'eastus',
        products: ['standard'],
      },
      { ledger: collect, pricer: createCallPricer(config) },
    );
    // `rollups: false` arrives with the rollups branch; busyTimeoutMs keeps the literal typed on main.
    const open = (name: string, rollups: boolean) =>
      createSqliteLedger(join(dir, name), { busyTimeoutMs: 5000, ...{ rollups } });
    const probe = open('probe.db', true);
    await probe.close();
    if (!hasRollupTables(join(dir, 'probe.db'))) return undefined;
    const results: WriteCost[] = [];
    for (const batch of [1, 500]) {
      const off: number[] = [];
      const on: number[] = [];
      for (let round = 0; round < rounds; round++) {
        for (const rollups of round % 2 === 0 ? [false, true] : [true, false]) {
          const ledger = open(`w-${batch}-${round}-${String(rollups)}.db`, rollups);
          try {
            (rollups ? on : off).push(await appendCost(ledger, records, batch));
          } finally {
            await ledger.close();
          }
        }
        progress(`write cost, batches of ${batch}, round ${round + 1}/${rounds}`);
      }
      const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;
      results.push({ batch, offUs: median(off), onUs: median(on) });
    }
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.env.BENCH_LEDGER === '0') return;
  const lines: string[] = ['', '## Ledger', ''];
  const notes: string[] = [];
  lines.push(
    `Ledgers of ${sizes.map(formatCount).join(' and ')} records over ${BENCH_SHAPE.days} days, ` +
      `${BENCH_SHAPE.subscriptions} subscriptions, ${BENCH_SHAPE.models} models (\`tokenmeter ledger generate\`'s generator, seed ${BENCH_SHAPE.seed}).`,
    '',
    '| figure | records | measured | target |',
    '| --- | ---: | ---: | --- |',
  );
  const row = (figure: string, records: number | string, measured: string, target: string) =>
    lines.push(
      `| ${figure} | ${typeof records === 'number' ? formatCount(records) : records} | ${measured} | ${target} |`,
    );

  for (const records of sizes) {
    const bench = await prepareBenchLedger(records, cacheDir, REPO_ROOT);
    if (bench.generatedSeconds === undefined)
      notes.push(`${formatCount(records)} records: reused from ${bench.path}`);
    else
      row(
        'generation',
        records,
        `${bench.generatedSeconds.toFixed(1)} s (${formatCount(records / bench.generatedSeconds)}/s)`,
        records === 2_000_000 ? TARGETS.generate2M : `${formatCount(2_000_000 / 120)}/s`,
      );
    progress(`query, ${formatCount(records)} records`);
    const query = await timeLedgerQuery(bench);
    row(
      '`ledger.query` 30 d by subscription, 1 d',
      records,
      `${ms(query.medianMs)} ms (first ${ms(query.firstMs)})`,
      queryTarget(records),
    );

    const server = await startDashboard(REPO_ROOT, bench.configPath, serverTimeoutMs);
    if ('skipped' in server) {
      // Hook for the query API (branch h-api): measured once `tokenmeter dashboard` exists.
      notes.push(`HTTP /api/usage and first chart at ${formatCount(records)}: skipped, ${server.skipped}`);
      continue;
    }
    try {
      const since = bench.now - 30 * DAY_MS;
      const api = await timeRuns(queryRuns, () => fetchDailyUsage(server.url, since, bench.now));
      row(
        '`GET /api/usage` same query',
        records,
        `${ms(api.medianMs)} ms (first ${ms(api.firstMs)})`,
        queryTarget(records),
      );
      const chart = await timeFirstChart(server.url, Math.min(queryRuns, 5));
      if ('skipped' in chart) notes.push(`first chart at ${formatCount(records)}: skipped, ${chart.skipped}`);
      else {
        if (chart.note !== undefined) notes.push(`first chart at ${formatCount(records)}: ${chart.note}`);
        row(
          'dashboard first chart',
          records,
          `${ms(chart.medianMs)} ms (first ${ms(chart.firstMs)})`,
          records >= 10_000_000 ? TARGETS.firstChart : '—',
        );
      }
    } catch (err) {
      notes.push(`HTTP at ${formatCount(records)}: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      await server.stop();
    }
  }

  progress(`write cost, ${formatCount(writeRecords)} records per run`);
  const cost = await measureWriteCost();
  if (cost === undefined) notes.push('rollup write cost: skipped, this build keeps no rollup tables');
  for (const c of cost ?? [])
    row(
      `rollup write cost (${WRITE_COST_DAYS} day of traffic), batches of ${c.batch}`,
      writeRecords,
      `${(c.onUs - c.offUs).toFixed(2)} µs/record (${c.onUs.toFixed(2)} on, ${c.offUs.toFixed(2)} off)`,
      TARGETS.writeCost,
    );
  if (pgBenchWanted()) {
    const pgRecords = wholeNumber(
      process.env.BENCH_LEDGER_PG_RECORDS?.replaceAll('_', ''),
      quick ? 200_000 : 2_000_000,
    );
    progress(`postgres: shipping ${formatCount(pgRecords)} records`);
    const pg = await runPgLedgerBench(pgRecords, queryRuns, progress);
    row(
      'PostgreSQL: shipping with `appendBatch` (2,000 per batch, one in flight)',
      pg.records,
      `${pg.seconds.toFixed(1)} s (${formatCount(pg.rate)}/s)`,
      '—',
    );
    row(
      'PostgreSQL: `ledger.query` 30 d by subscription, 1 d',
      pg.records,
      `${ms(pg.query.medianMs)} ms (first ${ms(pg.query.firstMs)})`,
      queryTarget(pg.records),
    );
  } else notes.push('PostgreSQL ledger: skipped (set BENCH_LEDGER_PG=1 or BENCH_LEDGER_PG_URL)');
  lines.push('', ...notes.map((n) => `- ${n}`));
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
