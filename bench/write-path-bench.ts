import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { openLedger } from '../src/ledger/ledger.js';
import type { UsageRecord } from '../src/ledger/record.js';
import { createSqliteLedger } from '../src/ledger/sqlite-ledger.js';
import { createOutboxLedger } from '../src/outbox/outbox-ledger.js';

/**
 * The durability cost per record on the main thread (issue #11 item 2), before and after the
 * outbox:
 *
 *   node --import tsx bench/write-path-bench.ts
 *   BENCH_WRITE_RECORDS=20000   records per run (default 20000)
 *
 * Each run appends its records in turns of 1 or 64 (`await Promise.all` of a turn's appends, as
 * concurrent calls do) to: a no-op store (the loop's own cost, subtracted), an SQLite file
 * ledger (`SqliteLedger.append`: group commit per turn with rollups, today's path), and the
 * outbox (`createOutboxLedger`: one journal write per turn, a worker thread ships into the same
 * kind of SQLite file). Main-thread time is the main thread's CPU time (Linux schedstat; the
 * event loop's active time elsewhere): work on the worker thread is not in it; handling its
 * messages on the main thread is. Target: ≤ 10 µs per record. Prints a markdown table on stdout.
 */

const RECORDS = Number(process.env.BENCH_WRITE_RECORDS ?? 20_000);
const BATCHES = [1, 64] as const;
const ROUNDS = 2;

interface Store {
  append(record: UsageRecord): Promise<void>;
  close(): Promise<void>;
}

const makeRecords = (prefix: string): UsageRecord[] =>
  Array.from({ length: RECORDS }, (_, i) => ({
    id: `${prefix}-${i}`,
    time: Date.UTC(2026, 0, 15, 10) + i * 37,
    api: 'openai',
    operation: 'chat.completions',
    subscription: `team-${i % 20}`,
    model: i % 2 === 0 ? 'gpt-4o-mini' : 'gpt-4o',
    backend: 'azure-eastus',
    user: `user-${i % 500}`,
    stream: i % 3 === 0,
    custom: { costCenter: `cc-${i % 7}` },
    source: 'reported',
    status: 200,
    latencyMs: 120 + (i % 50),
    promptTokens: 100 + (i % 40),
    completionTokens: 20 + (i % 30),
    totalTokens: 120 + (i % 70),
    cost: 0.0001 * (i % 9),
  }));

/**
 * The main thread's CPU time so far, milliseconds: Linux's per-thread scheduler statistics (the
 * main thread's id is the process id), else the event loop's active time, which also counts the
 * time the thread waits for a core while the worker or other processes run.
 */
const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;
const useSchedstat = existsSync(SCHEDSTAT);
const mainThreadMs = (): number =>
  useSchedstat
    ? Number(readFileSync(SCHEDSTAT, 'utf8').split(' ')[0]) / 1e6
    : performance.eventLoopUtilization().active;

/** Main-thread milliseconds to append every record, `batch` per event-loop turn. */
async function run(store: Store, records: readonly UsageRecord[], batch: number): Promise<number> {
  const before = mainThreadMs();
  for (let i = 0; i < records.length; i += batch)
    await Promise.all(records.slice(i, i + batch).map((r) => store.append(r)));
  return mainThreadMs() - before;
}

const noop: Store = {
  append: () => new Promise((resolve) => setImmediate(resolve)),
  close: () => Promise.resolve(),
};

const dir = mkdtempSync(join(tmpdir(), 'tokenmeter-write-bench-'));
const log = pino({ level: 'silent' });
let n = 0;
const stores: Record<string, () => Store> = {
  'SqliteLedger.append (before)': () => createSqliteLedger(join(dir, `direct-${n++}.db`)),
  'outbox append (after)': () => {
    const path = join(dir, `outbox-${n++}.db`);
    return createOutboxLedger({
      url: `sqlite:${path}`,
      root: `${path}.outbox`,
      reader: openLedger(`sqlite:${path}`),
      log,
    });
  },
};

try {
  const rows: string[] = [];
  const shipping: string[] = [];
  for (const batch of BATCHES) {
    const base: number[] = [];
    for (let r = 0; r < ROUNDS; r++) base.push(await run(noop, makeRecords(`noop-${batch}-${r}`), batch));
    const baseMs = Math.min(...base);
    for (const [name, open] of Object.entries(stores)) {
      const costs: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const store = open();
        // Warm-up: prepared statements, the worker's start, the first segment.
        await run(store, makeRecords(`warm-${batch}-${r}`), 64);
        if ('outbox' in store) await (store as ReturnType<typeof createOutboxLedger>).outbox.catchUp(30_000);
        costs.push(await run(store, makeRecords(`${name}-${batch}-${r}`), batch));
        if ('outbox' in store) {
          const outbox = (store as ReturnType<typeof createOutboxLedger>).outbox;
          const started = performance.now();
          await outbox.catchUp(60_000);
          if (r === 0)
            shipping.push(
              `| ${batch} | ${Math.round(RECORDS / ((performance.now() - started) / 1000)).toLocaleString('en')} (after the appends; the worker ships during them too) |`,
            );
        }
        await store.close();
      }
      const perRecord = ((Math.min(...costs) - baseMs) * 1000) / RECORDS;
      rows.push(`| ${name} | ${batch} | ${perRecord.toFixed(1)} |`);
    }
  }
  console.log(
    `## Write path: durability cost per record on the main thread (${RECORDS} records, best of ${ROUNDS})\n`,
  );
  console.log('| path | records per turn | µs per record |');
  console.log('|---|---:|---:|');
  for (const row of rows) console.log(row);
  console.log('\nTarget: ≤ 10 µs per record (issue #11). The no-op loop is subtracted.\n');
  console.log('| records per turn | outbox catch-up after the run, records/s |');
  console.log('|---:|---:|');
  for (const row of shipping) console.log(row);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
