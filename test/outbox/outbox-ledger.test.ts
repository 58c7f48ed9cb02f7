import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { openLedger } from '../../src/ledger/ledger.js';
import { claimInstance, LOCK_FILE } from '../../src/outbox/instance-claim.js';
import { createOutboxLedger } from '../../src/outbox/outbox-ledger.js';
import { segmentName } from '../../src/outbox/segment-files.js';
import { readLedgerRows } from '../helpers/ledger-rows.js';
import { makeRecord, makeTempDir } from '../ledger/fixtures/records.js';

const silent = pino({ level: 'silent' });

/** A pid that is surely dead: a child that has exited. */
const deadPid = (): number => spawnSync(process.execPath, ['-e', '0']).pid ?? 0;

describe('outbox instance directories', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir: root, cleanup } = await makeTempDir()));
  after(() => cleanup());

  it('two processes on one root get separate directories; a released one is reused', () => {
    const outbox = join(root, 'two');
    const a = claimInstance(outbox);
    const b = claimInstance(outbox);
    assert.notEqual(a.dir, b.dir);
    a.release();
    const c = claimInstance(outbox);
    assert.equal(c.dir, a.dir);
    b.release();
    c.release();
  });

  it('takes over a directory whose owner is dead, and adopts other orphaned directories with segments', () => {
    const outbox = join(root, 'orphans');
    for (const name of ['a-dead', 'b-unlocked', 'c-live']) mkdirSync(join(outbox, name), { recursive: true });
    writeFileSync(join(outbox, 'a-dead', LOCK_FILE), JSON.stringify({ pid: deadPid(), host: hostname() }));
    writeFileSync(join(outbox, 'b-unlocked', segmentName(3)), '');
    writeFileSync(join(outbox, 'c-live', LOCK_FILE), JSON.stringify({ pid: process.ppid, host: hostname() }));
    writeFileSync(join(outbox, 'c-live', segmentName(1)), '');
    const claim = claimInstance(outbox);
    assert.equal(claim.dir, join(outbox, 'a-dead'));
    assert.deepEqual(claim.adopted, [join(outbox, 'b-unlocked')]);
    claim.release();
    assert.equal(existsSync(join(outbox, 'b-unlocked', LOCK_FILE)), false);
  });
});

describe('outbox ledger on an SQLite file', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir: root, cleanup } = await makeTempDir()));
  after(() => cleanup());
  let n = 0;
  const open = (db: string, outbox = `${db}.outbox`) =>
    createOutboxLedger({
      url: `sqlite:${db}`,
      root: outbox,
      reader: openLedger(`sqlite:${db}`),
      log: silent,
      idleMs: 20,
    });

  it('a read sees its own writes; a second connection sees them within a second', async () => {
    const db = join(root, `l${n++}.db`);
    const ledger = open(db);
    await Promise.all(Array.from({ length: 20 }, (_, i) => ledger.append(makeRecord({ id: `own${i}` }))));
    assert.equal(await ledger.count(), 20);
    const totals = await ledger.subscriptionTotals({ since: 0, until: Date.now() }, ['team-a']);
    assert.equal(totals.get('team-a')?.tokens, 20 * 15);
    await ledger.append(makeRecord({ id: 'seen-by-other' }));
    const other = openLedger(`sqlite:${db}`);
    const deadline = Date.now() + 1000;
    let seen = false;
    while (!seen && Date.now() < deadline) {
      seen = (await other.count()) === 21;
      if (!seen) await new Promise((r) => setTimeout(r, 20));
    }
    await other.close();
    assert.ok(seen, 'the second connection saw the record within 1 s');
    await ledger.outbox.catchUp(1000);
    assert.equal(ledger.outbox.status().pending, 0);
    await ledger.close();
  });

  it('records written and not shipped at a stop are shipped at the next start, once', async () => {
    const db = join(root, `l${n++}.db`);
    const outbox = join(root, `ob${n}`);
    // The worker cannot open its target: a file stands where the ledger's directory should be.
    const blocker = join(root, `blocker${n}`);
    writeFileSync(blocker, '');
    const first = createOutboxLedger({
      url: `sqlite:${blocker}/ledger.db`,
      root: outbox,
      reader: openLedger(`sqlite:${db}`),
      log: silent,
      closeWaitMs: 300,
      backoffMs: 20,
    });
    await Promise.all(Array.from({ length: 12 }, (_, i) => first.append(makeRecord({ id: `held${i}` }))));
    // Waits out the worker's start and its first attempts; nothing can ship.
    assert.equal(await first.outbox.catchUp(3000), false);
    const status = first.outbox.status();
    assert.equal(status.pending, 12);
    assert.equal(status.target, 'unreachable');
    assert.ok(status.shipFailures > 0);
    await first.close();
    const second = open(db, outbox);
    assert.equal(second.outbox.status().pending, 12, 'counted from the journal at start');
    assert.equal(await second.count(), 12);
    await second.close();
    const ids = readLedgerRows(db).map((r) => r['id']);
    assert.equal(new Set(ids).size, 12);
    assert.deepEqual(
      readdirSync(readdirSync(outbox).map((d) => join(outbox, d))[0] ?? '').filter((f) =>
        f.startsWith('seg-'),
      ),
      [],
    );
  });
});
