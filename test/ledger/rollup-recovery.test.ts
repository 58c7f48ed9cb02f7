import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { UsageRecord } from '../../src/ledger/record.js';
import { createSqliteLedger, type SqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import type { UsageQuery } from '../../src/reports/usage-query.js';
import { makeRecord, makeTempDir } from './fixtures/records.js';
import { assertSameRows } from './fixtures/same-rows.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const BASE = Date.UTC(2025, 5, 1);

// Appends records from 2025-06-01 without flushing its rollup deltas, then SIGKILLs itself.
const CHILD = fileURLToPath(new URL('./fixtures/append-unflushed-and-die.ts', import.meta.url));

const QUERIES: UsageQuery[] = [
  { by: ['subscription'], where: [], interval: DAY },
  { by: ['subscription'], where: [], interval: HOUR },
  { by: [], where: [] },
  { by: ['model'], where: [{ dim: 'priced', value: 'true' }], since: BASE + DAY, until: BASE + 3 * DAY },
];

function traffic(count: number, prefix: string, stepMs = 7 * 60_000): UsageRecord[] {
  return Array.from({ length: count }, (_, i) =>
    makeRecord({
      id: `${prefix}${i}`,
      time: BASE + i * stepMs,
      subscription: `team-${i % 3}`,
      model: i % 4 === 0 ? 'gpt-4o-mini' : 'gpt-4o',
      ...(i % 3 !== 0 && { cost: (i % 10) / 100 }),
    }),
  );
}

/** The rows of usage_rollup_pending: [hour, owner]. */
function marks(path: string): [number, string][] {
  const db = new Database(path, { readonly: true });
  try {
    return db
      .prepare<[], { hour: number; owner: string }>('SELECT hour, owner FROM usage_rollup_pending')
      .all()
      .map((row) => [row.hour, row.owner]);
  } finally {
    db.close();
  }
}

/** Requests counted by the hour and the day rollup tables. */
function rollupRequests(path: string): { hour: number; day: number } {
  const db = new Database(path, { readonly: true });
  try {
    const sum = (table: string): number =>
      Number(db.prepare(`SELECT COALESCE(SUM(requests), 0) FROM ${table}`).pluck().get());
    return { hour: sum('usage_rollup_hour'), day: sum('usage_rollup_day') };
  } finally {
    db.close();
  }
}

async function assertMatchesRaw(ledger: SqliteLedger, path: string): Promise<void> {
  const raw = createSqliteLedger(path, { rollups: false });
  try {
    for (const query of QUERIES) assertSameRows(await ledger.query(query), await raw.query(query), query);
  } finally {
    await raw.close();
  }
}

describe('rollup deltas, marks and recovery', () => {
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  before(async () => {
    temp = await makeTempDir();
  });
  after(() => temp.cleanup());

  it('answers exactly while deltas are unflushed, reading marked hours raw', async () => {
    const path = join(temp.dir, 'unflushed.db');
    const ledger = createSqliteLedger(path, { rollupFlushMs: 0 });
    const records = traffic(400, 'u');
    await Promise.all(records.map((r) => ledger.append(r)));
    const hours = new Set(records.map((r) => Math.floor(r.time / HOUR) * HOUR));
    assert.equal(marks(path).length, hours.size);
    assert.deepEqual(rollupRequests(path), { hour: 0, day: 0 });
    assert.ok(ledger.planUsage(QUERIES[0] as UsageQuery).some((p) => p.source === 'raw'));
    await assertMatchesRaw(ledger, path);
    await ledger.flushRollups();
    assert.deepEqual(marks(path), []);
    assert.deepEqual(rollupRequests(path), { hour: 400, day: 400 });
    assert.deepEqual(ledger.planUsage(QUERIES[0] as UsageQuery), [{ source: 'day' }]);
    // Records after a flush mark their hours again.
    await ledger.append(makeRecord({ id: 'late', time: BASE + 5 * HOUR + 1 }));
    assert.equal(marks(path).length, 1);
    await assertMatchesRaw(ledger, path);
    await ledger.close();
    assert.deepEqual(marks(path), []);
    assert.deepEqual(rollupRequests(path), { hour: 401, day: 401 });
  });

  it('rebuilds the hours of a killed process once its lease has run out, not before', async () => {
    const path = join(temp.dir, 'killed.db');
    const first = createSqliteLedger(path);
    await Promise.all(traffic(300, 'before').map((r) => first.append(r)));
    await first.close();
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, path, '500', String(11 * 60_000)], {
      stdio: 'ignore',
    });
    const [, signal] = (await once(child, 'exit')) as [number | null, string | null];
    assert.equal(signal, 'SIGKILL');
    const left = marks(path);
    assert.ok(left.length > 0, 'the killed process left marks');
    // Within the lease the owner counts as alive: its hours stay marked, read raw.
    const early = createSqliteLedger(path, { rollupFlushMs: 0, rollupLeaseMs: 3_600_000 });
    assert.deepEqual(marks(path), left);
    await assertMatchesRaw(early, path);
    await early.close();
    const late = createSqliteLedger(path, { rollupFlushMs: 0, rollupLeaseMs: 0 });
    assert.deepEqual(marks(path), []);
    assert.deepEqual(rollupRequests(path), { hour: 800, day: 800 });
    await assertMatchesRaw(late, path);
    await late.close();
  });

  it('fences a connection declared dead: its deltas are not added, its hours rebuilt', async () => {
    const path = join(temp.dir, 'fenced.db');
    const stalled = createSqliteLedger(path, { rollupFlushMs: 0 });
    await Promise.all(traffic(100, 'a').map((r) => stalled.append(r)));
    // Another connection with a zero lease takes `stalled` for dead and rebuilds its hours.
    const other = createSqliteLedger(path, { rollupFlushMs: 0, rollupLeaseMs: 0 });
    assert.deepEqual(marks(path), []);
    assert.deepEqual(rollupRequests(path), { hour: 100, day: 100 });
    // `stalled` carries on in hours it believes marked, then flushes: its deltas would count
    // the first 100 records twice, so it marks the hours for a rebuild instead.
    await Promise.all(traffic(100, 'b').map((r) => stalled.append(r)));
    await stalled.flushRollups();
    await other.flushRollups();
    assert.deepEqual(marks(path), []);
    assert.deepEqual(rollupRequests(path), { hour: 200, day: 200 });
    await assertMatchesRaw(other, path);
    await stalled.close();
    await other.close();
  });

  it('reprice stays exact with another connection holding deltas of the repriced hours', async () => {
    const path = join(temp.dir, 'reprice.db');
    const writer = createSqliteLedger(path, { rollupFlushMs: 0 });
    const repricer = createSqliteLedger(path, { rollupFlushMs: 0 });
    await Promise.all(traffic(200, 'r').map((r) => writer.append(r)));
    const result = await repricer.reprice(
      { since: BASE, until: BASE + DAY },
      (r) => (r.promptTokens ?? 0) / 7,
    );
    assert.ok(result.changed > 0);
    // The writer's hours are still live: marked for a rebuild, not rebuilt, read raw.
    assert.ok(marks(path).some(([, owner]) => owner === ''));
    await assertMatchesRaw(repricer, path);
    await writer.flushRollups();
    await repricer.flushRollups();
    assert.deepEqual(marks(path), []);
    await assertMatchesRaw(repricer, path);
    await writer.close();
    await repricer.close();
  });

  it('rebuilds one hour of a day whose other hour a live connection holds, the day rows exact', async () => {
    const path = join(temp.dir, 'day-rule.db');
    const writer = createSqliteLedger(path, { rollupFlushMs: 0 });
    const other = createSqliteLedger(path, { rollupFlushMs: 0 });
    const at = (hour: number, i: number, prefix: string): UsageRecord =>
      makeRecord({
        id: `${prefix}${i}`,
        time: BASE + hour * HOUR + i * 1000,
        model: i % 2 ? 'a' : 'b',
        cost: i,
      });
    await Promise.all([3, 9].flatMap((h) => [0, 1, 2, 3].map((i) => writer.append(at(h, i, `f${h}-`)))));
    await writer.flushRollups();
    // Unflushed figures of hour 3, then a reprice of hour 9 by the other connection: hour 9 is
    // rebuilt at once, its day's rows corrected by its old and new rows alone.
    await Promise.all([0, 1, 2].map((i) => writer.append(at(3, i, 'late-'))));
    await other.reprice({ since: BASE + 9 * HOUR, until: BASE + 10 * HOUR }, (r) => (r.cost ?? 0) * 3);
    assert.deepEqual(
      marks(path).map(([hour, owner]) => [hour, owner === '']),
      [[BASE + 3 * HOUR, false]],
    );
    const daily: UsageQuery = { by: ['model'], where: [], interval: DAY };
    await assertMatchesRaw(other, path);
    await writer.flushRollups();
    assert.deepEqual(other.planUsage(daily), [{ source: 'day' }]);
    const raw = createSqliteLedger(path, { rollups: false });
    assertSameRows(await other.query(daily), await raw.query(daily), daily);
    await raw.close();
    assert.deepEqual(rollupRequests(path), { hour: 11, day: 11 });
    await writer.close();
    await other.close();
  });

  it('takes out-of-range timing options as their nearest sense, staying exact', async () => {
    const path = join(temp.dir, 'options.db');
    for (const [rollupFlushMs, rollupLeaseMs] of [
      [-5, -5],
      [Number.NaN, Number.POSITIVE_INFINITY],
      [0.5, 1e-9],
    ] as const) {
      const ledger = createSqliteLedger(path, { rollupFlushMs, rollupLeaseMs });
      await Promise.all(traffic(30, `o${String(rollupFlushMs)}-`).map((r) => ledger.append(r)));
      await assertMatchesRaw(ledger, path);
      await ledger.close();
    }
    assert.deepEqual(marks(path), []);
    assert.deepEqual(rollupRequests(path), { hour: 90, day: 90 });
  });

  it('refuses nothing and loses nothing when a flush meets a locked database', async () => {
    const path = join(temp.dir, 'busy.db');
    const ledger = createSqliteLedger(path, { rollupFlushMs: 0, busyTimeoutMs: 0 });
    await Promise.all(traffic(50, 'x').map((r) => ledger.append(r)));
    const locker = new Database(path);
    locker.exec('BEGIN IMMEDIATE');
    await ledger.flushRollups();
    assert.equal(marks(path).length > 0, true, 'the failed flush kept its marks');
    locker.exec('COMMIT');
    locker.close();
    await ledger.flushRollups();
    assert.deepEqual(rollupRequests(path), { hour: 50, day: 50 });
    await assertMatchesRaw(ledger, path);
    await ledger.close();
  });

  it('counts a record written by a connection taken for dead into an hour it had marked, though it dies before its flush', async () => {
    // Found by the two-writer property test: B's recovery rebuilds A's hour (lease 0: A is
    // "dead") and removes A's marks; A writes another record into that hour, which it believed
    // still marked, and dies without flushing. A checks its heartbeat before writing instead.
    const path = join(temp.dir, 'fenced-then-dead.db');
    const open = (): SqliteLedger => createSqliteLedger(path, { rollupFlushMs: 0, rollupLeaseMs: 0 });
    const raw = createSqliteLedger(path, { rollups: false });
    const a = open();
    await a.append(makeRecord({ id: 'a1', time: BASE + 10 * HOUR + 5 }));
    const b = open(); // its recovery at open rebuilds A's hour and fences A
    await a.append(makeRecord({ id: 'a2', time: BASE + 10 * HOUR + 7 }));
    a.dropRollupDeltas(); // A dies
    const c = open();
    try {
      await c.flushRollups();
      const query: UsageQuery = { by: [], where: [] };
      assert.deepEqual(c.planUsage(query), [{ source: 'day' }]);
      assertSameRows(await c.query(query), await raw.query(query), query);
      assert.equal((await c.query(query))[0]?.requests, 2);
    } finally {
      for (const ledger of [raw, a, b, c]) await ledger.close();
    }
  });
});
