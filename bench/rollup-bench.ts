/**
 * What the SQLite ledger's rollups cost on the write path and save on queries.
 *
 *   node --import tsx bench/rollup-bench.ts [records-for-writes] [records-for-queries]
 *
 * Writes: N appends in batches of 1 (each its own transaction) and of 64 (one group commit),
 * to a file and to `:memory:`, rollups on vs off, best of 5 alternating runs (the machine may
 * be shared); the difference per record is the rollups' cost, the flushes (every second, on
 * the same thread) and the close included. Queries: a 30-day daily query by subscription, from rollups vs raw records.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UsageRecord } from '../src/ledger/record.js';
import { createSqliteLedger } from '../src/ledger/sqlite-ledger.js';

const DAY = 86_400_000;
const START = Date.UTC(2025, 0, 1);

function record(i: number, spanMs: number, count: number): UsageRecord {
  return {
    id: `b${i}`,
    time: START + Math.floor((i * spanMs) / count),
    api: 'openai',
    operation: i % 5 === 0 ? 'embeddings' : 'chat.completions',
    product: `product-${i % 3}`,
    subscription: `team-${i % 20}`,
    // Five users per team, each calling from one address.
    user: `user-${i % 20}-${(i * 7) % 5}`,
    ip: `10.0.${i % 20}.${(i * 7) % 5}`,
    gateway: 'gw-1',
    backend: `backend-${i % 2}`,
    model: `model-${(i * 7) % 5}`,
    responseModel: `model-${(i * 7) % 5}-2025`,
    provider: 'openai',
    stream: i % 2 === 0,
    custom: i % 3 === 0 ? { team: `t${i % 4}` } : {},
    source: 'reported',
    status: 200,
    latencyMs: 100,
    promptTokens: 100 + (i % 50),
    completionTokens: 20 + (i % 30),
    totalTokens: 120 + (i % 50) + (i % 30),
    ...(i % 10 !== 0 && { cost: 0.001 * (i % 9) }),
  };
}

async function timeWrites(rollups: boolean, batch: number, n: number, memory: boolean): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'rollup-bench-'));
  const ledger = createSqliteLedger(memory ? ':memory:' : join(dir, 'ledger.db'), { rollups });
  // At the rate of 10 million records a month (~14,000 an hour), as the target ledger.
  const records = Array.from({ length: n }, (_, i) => record(i, Math.round((n * 30 * DAY) / 1e7), n));
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i += batch)
    await Promise.all(records.slice(i, i + batch).map((r) => ledger.append(r)));
  const elapsed = Number(process.hrtime.bigint() - started) / 1e3;
  await ledger.close();
  rmSync(dir, { recursive: true, force: true });
  return elapsed / n;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function writes(n: number): Promise<void> {
  for (const [memory, batch] of [
    [false, 1],
    [false, 64],
    [true, 1],
    [true, 64],
  ] as const) {
    const on: number[] = [];
    const off: number[] = [];
    for (let run = 0; run < 5; run += 1) {
      off.push(await timeWrites(false, batch, n, memory));
      on.push(await timeWrites(true, batch, n, memory));
    }
    const [a, b] = [Math.min(...off), Math.min(...on)];
    console.log(
      `append ${memory ? 'in memory' : 'to a file'}, batch ${batch}: rollups off ${a.toFixed(2)} µs/record, on ${b.toFixed(2)} µs/record, cost ${(b - a).toFixed(2)} µs`,
    );
  }
}

async function queries(n: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'rollup-bench-'));
  const path = join(dir, 'ledger.db');
  const ledger = createSqliteLedger(path);
  for (let i = 0; i < n; i += 4096)
    await Promise.all(
      Array.from({ length: Math.min(4096, n - i) }, (_, j) => ledger.append(record(i + j, 30 * DAY, n))),
    );
  // Steady state: the past flushed, the current hour (here the last one) written and not yet.
  await ledger.flushRollups();
  await Promise.all(
    Array.from({ length: 100 }, (_, j) => ledger.append({ ...record(n - 1, 30 * DAY, n), id: `now${j}` })),
  );
  const raw = createSqliteLedger(path, { rollups: false });
  const cases = [
    { name: '30 d by subscription, daily', by: ['subscription'], interval: DAY },
    { name: '30 d by model, hourly', by: ['model'], interval: DAY / 24 },
    { name: '30 d by user, daily (hour rollup)', by: ['user'], interval: DAY },
    { name: '30 d by team (custom), total', by: ['team'] },
  ];
  for (const c of cases) {
    const query = {
      by: c.by,
      where: [],
      since: START + 7 * 60_000,
      until: START + 30 * DAY,
      ...(c.interval !== undefined && { interval: c.interval }),
    };
    const time = async (l: typeof ledger): Promise<number> => {
      const ms: number[] = [];
      for (let i = 0; i < 5; i += 1) {
        const t = performance.now();
        await l.query(query);
        ms.push(performance.now() - t);
      }
      return median(ms);
    };
    console.log(
      `query ${c.name} over ${n} records: raw ${(await time(raw)).toFixed(1)} ms, rollups ${(await time(ledger)).toFixed(1)} ms`,
    );
  }
  await raw.close();
  await ledger.close();
  rmSync(dir, { recursive: true, force: true });
}

await writes(Number(process.argv[2] ?? 20_000));
await queries(Number(process.argv[3] ?? 300_000));
