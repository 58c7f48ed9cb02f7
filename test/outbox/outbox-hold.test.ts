import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import pino from 'pino';
import { openLedger } from '../../src/ledger/ledger.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { createOutboxLedger } from '../../src/outbox/outbox-ledger.js';
import { createShipper, type Shipper } from '../../src/outbox/outbox-shipper.js';
import { segmentName } from '../../src/outbox/segment-files.js';
import { HOLD_MAX_MS } from '../../src/outbox/worker-messages.js';
import { makeRecord, makeTempDir } from '../ledger/fixtures/records.js';

const silent = pino({ level: 'silent' });

const lines = (prefix: string, count: number): string =>
  Array.from(
    { length: count },
    (_, i) => `${JSON.stringify(makeRecord({ id: `${prefix}${i}`, time: 1_700_000_000_000 + i }))}\n`,
  ).join('');

/** Rows in the ledger file, read by a connection of its own (no waiting for any outbox). */
const rowCount = (db: string): number => {
  const conn = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return conn.prepare('SELECT count(*) FROM usage_records').pluck().get() as number;
  } finally {
    conn.close();
  }
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it holds (throws after `ms`). */
async function until(check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met before the deadline');
    await sleep(10);
  }
}

describe('outbox hold: the shipper', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir: root, cleanup } = await makeTempDir()));
  after(() => cleanup());
  let n = 0;
  /** An instance directory with a segment of an earlier run (1) and this process's (2). */
  const fresh = (): { dir: string; db: string } => {
    const base = join(root, `case${n++}`);
    const dir = join(base, 'inst');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, segmentName(1)), lines('old', 10));
    writeFileSync(join(dir, segmentName(2)), lines('own', 50));
    return { dir, db: join(base, 'ledger.db') };
  };
  const shipInto = (dir: string, db: string, holdMaxMs?: number): Shipper =>
    createShipper({
      dirs: [{ dir, live: true, from: 2 }],
      openTarget: () => createSqliteLedger(db, { busyTimeoutMs: 50 }),
      batchSize: 2000,
      idleMs: 10,
      backoffMs: 20,
      ...(holdMaxMs !== undefined ? { holdMaxMs } : {}),
    });

  it('ships this process lines up to upTo exactly (a batch larger than the rest is cut), pauses, moves, resumes on release', async () => {
    const { dir, db } = fresh();
    const shipper = shipInto(dir, db);
    try {
      assert.equal(await shipper.hold(7), 7);
      // The earlier run's lines are not this process's: shipped, not counted in `own`.
      assert.equal(shipper.progress.own, 7);
      assert.equal(shipper.progress.handled, 17);
      assert.equal(rowCount(db), 17);
      // Paused: new lines wait while the hold is in place.
      appendFileSync(join(dir, segmentName(2)), lines('later', 5));
      await sleep(100);
      assert.equal(rowCount(db), 17);
      assert.equal(shipper.progress.own, 7);
      // The same hold moved further on.
      assert.equal(await shipper.hold(30), 30);
      assert.equal(rowCount(db), 40);
      // Already past upTo: it pauses at once and says where it stands.
      assert.equal(await shipper.hold(12), 30);
      shipper.release();
      assert.equal(await shipper.drain(false, 10_000), true);
      assert.equal(shipper.progress.own, 55);
      assert.equal(rowCount(db), 65);
    } finally {
      await shipper.stop();
    }
  });

  it(`ends a hold by itself after ${HOLD_MAX_MS} ms when nobody releases it`, async () => {
    const { dir, db } = fresh();
    const shipper = shipInto(dir, db);
    try {
      assert.equal(await shipper.hold(3), 3);
      assert.equal(shipper.progress.own, 3);
      await until(() => shipper.progress.own === 50, HOLD_MAX_MS + 5000);
      assert.equal(rowCount(db), 60);
    } finally {
      await shipper.stop();
    }
  });

  it('a hold that cannot be reached (the ledger cannot be opened) resolves short when it ends; stop ends it too', async () => {
    const { dir } = fresh();
    const blocker = join(root, `blocker${n}`);
    writeFileSync(blocker, '');
    const shipper = shipInto(dir, join(blocker, 'ledger.db'), 200);
    try {
      assert.equal(await shipper.hold(5), 0);
      assert.equal(shipper.progress.reachable, false);
      const stopped = shipper.hold(5);
      await shipper.stop();
      assert.equal(await stopped, 0);
    } finally {
      await shipper.stop();
    }
  });
});

describe('outbox hold: consistent reads through the worker', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir: root, cleanup } = await makeTempDir()));
  after(() => cleanup());
  let n = 0;
  const open = (db: string, url = `sqlite:${db}`) =>
    createOutboxLedger({
      url,
      root: `${db}.outbox`,
      reader: openLedger(`sqlite:${db}`),
      log: silent,
      idleMs: 10,
    });

  it('a read under the hold sees exactly the first upTo records of this process; the worker resumes after the release', async () => {
    const db = join(root, `l${n++}.db`);
    const ledger = open(db);
    try {
      // The worker started (from sources under tsx it takes seconds).
      assert.equal(await ledger.outbox.catchUp(5000), true);
      await Promise.all(Array.from({ length: 30 }, (_, i) => ledger.append(makeRecord({ id: `a${i}` }))));
      assert.equal(ledger.appendedCount(), 30);
      const read = await ledger.readConsistent(async (reader) => {
        // Written during the read: the worker is held, the read does not see them.
        await Promise.all(Array.from({ length: 8 }, (_, i) => ledger.append(makeRecord({ id: `b${i}` }))));
        await sleep(100);
        return reader.count();
      }, 5000);
      assert.equal(read.upTo, 30);
      assert.equal(read.value, 30);
      assert.equal(ledger.appendedCount(), 38);
      assert.equal(await ledger.outbox.catchUp(5000), true);
      assert.equal(rowCount(db), 38);
    } finally {
      await ledger.close();
    }
  });

  it(`the worker ends a hold by itself after ${HOLD_MAX_MS} ms: a read that outlasts it has no upTo`, async () => {
    const db = join(root, `l${n++}.db`);
    const ledger = open(db);
    try {
      assert.equal(await ledger.outbox.catchUp(5000), true);
      await ledger.append(makeRecord({ id: 'first' }));
      const read = await ledger.readConsistent(async (reader) => {
        await ledger.append(makeRecord({ id: 'during' }));
        // Shipped while the read still runs: the hold ended without a release.
        await until(() => rowCount(db) === 2, HOLD_MAX_MS + 5000);
        return reader.count();
      }, 5000);
      assert.equal(read.upTo, undefined);
      assert.equal(read.value, 2);
    } finally {
      await ledger.close();
    }
  });

  it('when the ledger cannot take the records, the read runs without a hold (upTo undefined)', async () => {
    const db = join(root, `l${n++}.db`);
    const blocker = join(root, `blocker${n}`);
    writeFileSync(blocker, '');
    const ledger = createOutboxLedger({
      url: `sqlite:${blocker}/ledger.db`,
      root: `${db}.outbox`,
      reader: openLedger(`sqlite:${db}`),
      log: silent,
      closeWaitMs: 200,
      backoffMs: 20,
    });
    try {
      await ledger.append(makeRecord({ id: 'stuck' }));
      const read = await ledger.readConsistent((reader) => reader.count(), 300);
      assert.equal(read.upTo, undefined);
      assert.equal(read.value, 0);
    } finally {
      await ledger.close();
    }
  });
});
