import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openLedger } from '../../src/ledger/ledger.js';
import type { UsageRecord } from '../../src/ledger/record.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import type { UsageQuery } from '../../src/reports/usage-query.js';
import { makeRecord, makeTempDir } from './fixtures/records.js';
import { downgradeToSchema6 } from './fixtures/schema-6.js';
import { assertSameRows } from './fixtures/same-rows.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const BASE = Date.UTC(2025, 4, 1);

/** `days` days of records, a few per hour, three subscriptions, some unpriced. */
function traffic(days: number, perDay: number, prefix = 'r'): UsageRecord[] {
  return Array.from({ length: days * perDay }, (_, i) =>
    makeRecord({
      id: `${prefix}${i}`,
      time: BASE + Math.floor(i / perDay) * DAY + ((i * 7919) % DAY),
      subscription: `team-${i % 3}`,
      user: `user-${i % 5}`,
      model: i % 4 === 0 ? 'gpt-4o-mini' : 'gpt-4o',
      custom: i % 2 === 0 ? { team: 'x' } : {},
      ...(i % 4 !== 0 && { cost: (i % 10) / 100 }),
    }),
  );
}

const QUERIES: UsageQuery[] = [
  { by: ['subscription'], where: [], interval: DAY },
  { by: ['user', 'team'], where: [{ dim: 'priced', value: 'false' }], since: BASE + 5 * HOUR + 17 },
  { by: ['model'], where: [], interval: HOUR, since: BASE + DAY, until: BASE + 2 * DAY + 30 * 60_000 },
  { by: [], where: [{ dim: 'subscription', value: 'team-1' }] },
  { by: ['subscription'], where: [], interval: HOUR },
];

// Appends records on 2025-01-01 in another process, then SIGKILLs itself.
const CHILD = fileURLToPath(new URL('./fixtures/append-and-die.ts', import.meta.url));

function countRecords(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT COUNT(*) FROM usage_records').pluck().get() as number;
  } finally {
    db.close();
  }
}

function rollupRows(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT SUM(requests) FROM usage_rollup_hour').pluck().get() as number;
  } finally {
    db.close();
  }
}

describe('rollup build and maintenance', () => {
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  before(async () => {
    temp = await makeTempDir();
  });
  after(() => temp.cleanup());

  async function schema6Ledger(name: string, records: UsageRecord[]): Promise<string> {
    const path = join(temp.dir, name);
    const ledger = createSqliteLedger(path);
    await Promise.all(records.map((r) => ledger.append(r)));
    await ledger.close();
    downgradeToSchema6(path);
    return path;
  }

  async function assertMatchesRaw(path: string): Promise<void> {
    const ledger = createSqliteLedger(path);
    const raw = createSqliteLedger(path, { rollups: false });
    try {
      for (const query of QUERIES) assertSameRows(await ledger.query(query), await raw.query(query), query);
    } finally {
      await raw.close();
      await ledger.close();
    }
  }

  it('builds the rollups of a schema-6 ledger on open, reporting each day', async () => {
    const path = await schema6Ledger('v6.db', traffic(5, 40));
    const progress: [number, number][] = [];
    const ledger = openLedger(`sqlite:${path}`, {
      onRollupBuild: (done, total) => progress.push([done, total]),
    });
    await ledger.close();
    assert.deepEqual(progress, [
      [1, 5],
      [2, 5],
      [3, 5],
      [4, 5],
      [5, 5],
    ]);
    assert.equal(rollupRows(path), 200);
    await assertMatchesRaw(path);
  });

  it('resumes an interrupted build where it stopped, and reads raw records until it is done', async () => {
    const path = await schema6Ledger('interrupted.db', traffic(6, 30));
    assert.throws(
      () =>
        createSqliteLedger(path, {
          onRollupBuild: (done) => {
            if (done === 2) throw new Error('killed');
          },
        }),
      /killed/,
    );
    const reader = createSqliteLedger(path, { rollups: false });
    assert.deepEqual((await reader.query({ by: [], where: [] }))[0]?.requests, 180);
    await reader.close();
    const progress: [number, number][] = [];
    const ledger = createSqliteLedger(path, { onRollupBuild: (done, total) => progress.push([done, total]) });
    assert.deepEqual(ledger.planUsage({ by: [], where: [] }), [{ source: 'day' }]);
    await ledger.close();
    assert.deepEqual(progress.at(-1), [4, 4], 'the two finished days are not built again');
    assert.equal(rollupRows(path), 180);
    await assertMatchesRaw(path);
  });

  it('builds nothing for a new ledger, and refuses a bad query on the rollup path as on raw records', async () => {
    const progress: number[] = [];
    const ledger = createSqliteLedger(join(temp.dir, 'new.db'), {
      onRollupBuild: (done) => progress.push(done),
    });
    assert.deepEqual(progress, []);
    const record = traffic(1, 1)[0] as UsageRecord;
    await ledger.append(record);
    // Not flushed yet: its hour reads raw records, the rest of its day the core hour rollup.
    const hour = Math.floor(record.time / HOUR) * HOUR;
    const day = Math.floor(record.time / DAY) * DAY;
    assert.deepEqual(ledger.planUsage({ by: ['model'], where: [] }), [
      { source: 'day', until: day },
      ...(hour > day ? [{ source: 'coreHour', since: day, until: hour }] : []),
      { source: 'raw', since: hour, until: hour + HOUR },
      { source: 'coreHour', since: hour + HOUR, until: day + DAY },
      { source: 'day', since: day + DAY },
    ]);
    await ledger.flushRollups();
    assert.deepEqual(ledger.planUsage({ by: ['model'], where: [] }), [{ source: 'day' }]);
    await assert.rejects(ledger.query({ by: ['no such dimension!'], where: [] }), { code: 'TM_USAGE_ARGS' });
    await assert.rejects(ledger.dimensionValues('no such dimension!', { where: [] }, 10), {
      code: 'TM_USAGE_ARGS',
    });
    for (const query of [
      { by: [], where: [{ dim: 'stream', value: 'maybe' }] },
      { by: [], where: [], since: BASE + DAY, until: BASE },
    ]) {
      await assert.rejects(ledger.query(query), { code: 'TM_USAGE_ARGS' });
      await assert.rejects(ledger.dimensionValues('model', query, 10), { code: 'TM_USAGE_ARGS' });
    }
    await ledger.close();
  });

  it('stays exact when another process writes during the build and is killed', async (t) => {
    const path = await schema6Ledger('concurrent.db', traffic(20, 200));
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, path, '3000'], { stdio: 'ignore' });
    // A slow build (a pause after each day, outside its transaction) so that the child opens,
    // builds days of its own and appends while this one still builds. Whichever reaches a day
    // first builds it; the other waits for the lock or builds it again, from raw records.
    const pause = new Int32Array(new SharedArrayBuffer(4));
    let seenWhileBuilding = 0;
    const ledger = createSqliteLedger(path, {
      onRollupBuild: () => {
        Atomics.wait(pause, 0, 0, 60);
        seenWhileBuilding = Math.max(seenWhileBuilding, countRecords(path));
      },
    });
    await once(child, 'exit');
    assert.equal(await ledger.count(), 7000);
    assert.equal((await ledger.query({ by: [], where: [] }))[0]?.requests, 7000);
    await ledger.close();
    await assertMatchesRaw(path);
    // Not an assertion of timing: says whether this run overlapped, for whoever reads the log.
    t.diagnostic(`records seen during the build: ${seenWhileBuilding} (4000 before the child)`);
  });

  it('does not add a duplicate append to the rollups', async () => {
    const path = join(temp.dir, 'dup.db');
    const ledger = createSqliteLedger(path);
    const [first] = traffic(1, 1);
    assert.ok(first !== undefined);
    await ledger.append(first);
    await Promise.all([ledger.append(first), ledger.append(first), ledger.append({ ...first, id: 'other' })]);
    await ledger.append(first);
    assert.equal((await ledger.query({ by: [], where: [] }))[0]?.requests, 2);
    await ledger.close();
    assert.equal(rollupRows(path), 2);
  });

  it('a connection writing without rollups makes the next one rebuild them', async () => {
    const path = join(temp.dir, 'off.db');
    const on = createSqliteLedger(path);
    await Promise.all(traffic(2, 10).map((r) => on.append(r)));
    await on.close();
    const off = createSqliteLedger(path, { rollups: false });
    await Promise.all(traffic(2, 10, 'late').map((r) => off.append(r)));
    await off.close();
    const progress: number[] = [];
    const again = createSqliteLedger(path, { onRollupBuild: (done) => progress.push(done) });
    await again.close();
    assert.deepEqual(progress, [1, 2]);
    assert.equal(rollupRows(path), 40);
    await assertMatchesRaw(path);
  });

  it('answers a 30-day daily query by subscription from the day rollup over 200k records', async () => {
    const path = join(temp.dir, 'big.db');
    const ledger = createSqliteLedger(path);
    const records = traffic(31, 200_000 / 31);
    for (let i = 0; i < records.length; i += 5000)
      await Promise.all(records.slice(i, i + 5000).map((r) => ledger.append(r)));
    const query: UsageQuery = {
      by: ['subscription'],
      where: [],
      interval: DAY,
      since: BASE + 12 * 60_000,
      until: BASE + 30 * DAY + 12 * 60_000,
    };
    await ledger.flushRollups();
    const pieces = ledger.planUsage(query);
    assert.deepEqual(pieces, [
      { source: 'raw', since: BASE + 12 * 60_000, until: BASE + HOUR },
      { source: 'raw', since: BASE + 30 * DAY, until: BASE + 30 * DAY + 12 * 60_000 },
      { source: 'coreHour', since: BASE + HOUR, until: BASE + DAY },
      { source: 'day', since: BASE + DAY, until: BASE + 30 * DAY },
    ]);
    const raw = createSqliteLedger(path, { rollups: false });
    assertSameRows(await ledger.query(query), await raw.query(query), query);
    await raw.close();
    await ledger.close();
  });
});
