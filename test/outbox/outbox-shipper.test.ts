import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { createShipper } from '../../src/outbox/outbox-shipper.js';
import { readOffset, segmentName, writeOffset } from '../../src/outbox/segment-files.js';
import { lockLedger } from '../helpers/ledger-lock.js';
import { readLedgerRows } from '../helpers/ledger-rows.js';
import { makeRecord, makeTempDir } from '../ledger/fixtures/records.js';

const lines = (prefix: string, count: number): string =>
  Array.from(
    { length: count },
    (_, i) => `${JSON.stringify(makeRecord({ id: `${prefix}${i}`, time: 1_700_000_000_000 + i }))}\n`,
  ).join('');

describe('outbox shipper', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir: root, cleanup } = await makeTempDir()));
  after(() => cleanup());
  let n = 0;
  const fresh = (): { dir: string; db: string } => {
    const dir = join(root, `case${n++}`);
    mkdirSync(join(dir, 'inst'), { recursive: true });
    return { dir: join(dir, 'inst'), db: join(dir, 'ledger.db') };
  };
  const shipInto = (dir: string, db: string, live = false, batchSize = 2000) =>
    createShipper({
      dirs: [{ dir, live }],
      openTarget: () => createSqliteLedger(db, { busyTimeoutMs: 50 }),
      batchSize,
      idleMs: 10,
      backoffMs: 20,
      maxBackoffMs: 100,
    });

  it('ships every segment once, persists the offset and deletes finished segments', async () => {
    const { dir, db } = fresh();
    writeFileSync(join(dir, segmentName(1)), lines('a', 30));
    writeFileSync(join(dir, segmentName(2)), lines('b', 5));
    const shipper = shipInto(dir, db, true, 7);
    assert.equal(await shipper.drain(false, 10_000), true);
    assert.equal(shipper.progress.handled, 35);
    await shipper.stop();
    assert.equal(readLedgerRows(db).length, 35);
    // The live (last) segment stays; the finished one is gone.
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('seg-')),
      [segmentName(2)],
    );
    assert.deepEqual(readOffset(dir), { segment: 2, offset: lines('b', 5).length });
  });

  it('after a crash between a ship and its offset, replays from the persisted offset with no duplicate', async () => {
    const { dir, db } = fresh();
    writeFileSync(join(dir, segmentName(1)), lines('r', 20));
    const first = shipInto(dir, db, true);
    assert.equal(await first.drain(false, 10_000), true);
    await first.stop();
    // The crash: the records were shipped, the offset is older (here: back to 5 lines in).
    writeOffset(dir, { segment: 1, offset: lines('r', 5).length });
    const second = shipInto(dir, db, false);
    assert.equal(await second.drain(true, 10_000), true);
    assert.equal(second.progress.handled, 15);
    await second.stop();
    const rows = readLedgerRows(db);
    assert.equal(rows.length, 20);
    assert.equal(new Set(rows.map((r) => r['id'])).size, 20);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('seg-')),
      [],
    );
  });

  it('sets aside the torn last line of a finished segment and a line that is not a record', async () => {
    const { dir, db } = fresh();
    const torn = JSON.stringify(makeRecord({ id: 'torn' })).slice(0, 40);
    writeFileSync(join(dir, segmentName(1)), `${lines('t', 3)}{"not":"a record"}\n${torn}`);
    writeFileSync(join(dir, segmentName(2)), lines('u', 2));
    const shipper = shipInto(dir, db, true);
    assert.equal(await shipper.drain(false, 10_000), true);
    await shipper.stop();
    assert.equal(readLedgerRows(db).length, 5);
    const rejected = readFileSync(join(dir, 'rejected.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { reason: string; line: string });
    assert.deepEqual(
      rejected.map((r) => r.line),
      ['{"not":"a record"}', torn],
    );
    assert.match(rejected[1]?.reason ?? '', /torn/);
    assert.equal(shipper.progress.rejected, 2);
  });

  it('bisects a batch the ledger refuses because of one record and sets that record aside with the reason', async () => {
    const { dir, db } = fresh();
    const setup = createSqliteLedger(db);
    await setup.close();
    const other = new Database(db);
    other.exec(`CREATE TRIGGER refuse_bad BEFORE INSERT ON usage_records WHEN NEW.id = 'x13'
                BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END`);
    other.close();
    writeFileSync(join(dir, segmentName(1)), lines('x', 40));
    const shipper = shipInto(dir, db, false);
    assert.equal(await shipper.drain(true, 10_000), true);
    await shipper.stop();
    const ids = readLedgerRows(db).map((r) => r['id']);
    assert.equal(ids.length, 39);
    assert.ok(!ids.includes('x13'));
    const [rejected] = readFileSync(join(dir, 'rejected.ndjson'), 'utf8').trim().split('\n');
    const parsed = JSON.parse(rejected ?? '{}') as { reason: string; line: string };
    assert.match(parsed.reason, /refused by trigger/);
    assert.match(parsed.line, /"id":"x13"/);
  });

  it('a locked ledger: failures are counted and retried, then every record arrives once', async () => {
    const { dir, db } = fresh();
    const setup = createSqliteLedger(db);
    await setup.close();
    writeFileSync(join(dir, segmentName(1)), lines('l', 25));
    const lock = lockLedger(db);
    const shipper = shipInto(dir, db, false);
    assert.equal(await shipper.drain(true, 400), false, 'nothing ships while the file is locked');
    assert.ok(shipper.progress.failures > 0);
    assert.equal(shipper.progress.reachable, false);
    lock.release();
    assert.equal(await shipper.drain(true, 10_000), true);
    assert.equal(shipper.progress.reachable, true);
    await shipper.stop();
    const rows = readLedgerRows(db);
    assert.equal(rows.length, 25);
    assert.equal(new Set(rows.map((r) => r['id'])).size, 25);
  });
});
