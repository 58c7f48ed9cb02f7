import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import pino from 'pino';
import { createRecordSink, type RecordSinkOptions } from '../../src/gateway/record-sink.js';
import { openFallbackJournal } from '../../src/ledger/fallback-journal.js';
import type { UsageRecord } from '../../src/ledger/record.js';
import { createSqliteLedger, type SqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { makeRecord, makeTempDir } from '../ledger/fixtures/records.js';
import { lockLedger } from '../helpers/ledger-lock.js';

const silent = pino({ level: 'silent' });
// Long enough that a test that wrongly waited for it per record would show in its duration.
const BUSY_MS = 150;

describe('record sink: a ledger that cannot write', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await makeTempDir()));
  after(() => cleanup());
  let n = 0;

  /** A real SQLite ledger in a new file, with the sink over it and its journal beside it. */
  function setUp(options: RecordSinkOptions & { maxPageCount?: number; journalBlocked?: boolean } = {}): {
    ledgerPath: string;
    journalPath: string;
    ledger: SqliteLedger;
    observed: string[];
    spilled: UsageRecord[];
    sink: ReturnType<typeof createRecordSink>;
  } {
    n++;
    const ledgerPath = join(dir, `sink${n}.db`);
    const journalPath = `${ledgerPath}.journal`;
    // A directory where the journal file should be: every append fails (EISDIR), even as root.
    if (options.journalBlocked === true) mkdirSync(journalPath);
    const ledger = createSqliteLedger(ledgerPath, {
      busyTimeoutMs: BUSY_MS,
      ...(options.maxPageCount !== undefined ? { maxPageCount: options.maxPageCount } : {}),
    });
    const observed: string[] = [];
    const spilled: UsageRecord[] = [];
    const sink = createRecordSink(ledger, [{ observe: (r) => observed.push(r.id) }], silent, {
      journal: openFallbackJournal(journalPath),
      retryDelayMs: 60_000,
      writeUnrecorded: (line) => {
        assert.ok(line.endsWith('\n'));
        spilled.push((JSON.parse(line) as { unrecordedUsageRecord: UsageRecord }).unrecordedUsageRecord);
      },
      ...options,
    });
    return { ledgerPath, journalPath, ledger, observed, spilled, sink };
  }

  const journalIds = (path: string): string[] =>
    readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => (JSON.parse(l) as UsageRecord).id);

  it('serve, locked ledger: every commit resolves durably in the journal, then all reach the ledger once it writes', async () => {
    const t = setUp();
    await t.sink.commit(makeRecord({ id: 'first' }));
    const lock = lockLedger(t.ledgerPath);
    const ids = Array.from({ length: 30 }, (_, i) => `r${i}`);
    const started = performance.now();
    // Concurrent, as calls ending together are: they share one failing group commit.
    await Promise.all(ids.slice(0, 10).map((id) => t.sink.commit(makeRecord({ id }))));
    for (const id of ids.slice(10)) await t.sink.commit(makeRecord({ id }));
    const elapsed = performance.now() - started;
    assert.ok(
      elapsed < BUSY_MS * 5,
      `while failing, commits skip the ledger instead of each waiting out the lock (${elapsed} ms)`,
    );
    assert.deepEqual(journalIds(t.journalPath), ids);
    assert.deepEqual(t.observed, ['first', ...ids], 'observed once, when durable in the journal');
    assert.equal(t.sink.stats.ledgerWritable, false);
    assert.equal(t.sink.stats.journalPending, 30);
    assert.equal(t.sink.stats.pending, 0);
    assert.equal(t.sink.refusal(), undefined, 'serve: calls go on');
    const health = t.sink.health();
    assert.equal(health.ready, false);
    assert.equal(health.ledger, 'failing');
    assert.equal(health.journalRecords, 30);

    await t.sink.recover();
    assert.equal(t.sink.health().ready, false, 'still locked: nothing imported');
    assert.equal(t.sink.stats.importFailures, 1);
    assert.equal(await t.ledger.count(), 1);

    lock.release();
    await t.sink.recover();
    assert.equal(await t.ledger.count(), 31);
    assert.equal(existsSync(t.journalPath), false);
    assert.deepEqual(t.sink.health(), {
      ready: true,
      ledger: 'writable',
      pendingInMemory: 0,
      journalRecords: 0,
      journal: t.journalPath,
      reasons: [],
    });
    assert.equal(t.observed.length, 31, 'the import does not show records to observers again');
    await t.sink.commit(makeRecord({ id: 'after' }));
    assert.equal(await t.ledger.count(), 32, 'the ledger is used again directly');
    await t.sink.close();
    await t.ledger.close();
  });

  it('the retry timer imports the journal by itself once the ledger writes again', async () => {
    const t = setUp({ retryDelayMs: 10 });
    const lock = lockLedger(t.ledgerPath);
    await t.sink.commit(makeRecord({ id: 'x' }));
    lock.release();
    for (let i = 0; i < 400 && !t.sink.health().ready; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(t.sink.health().ready, true);
    assert.ok(await t.ledger.get('x'));
    await t.sink.close();
    await t.ledger.close();
  });

  it('refuse: a full ledger (SQLITE_FULL) makes new calls refused, and its records survive a restart', async () => {
    const t = setUp({ whenUnavailable: 'refuse', maxPageCount: 1 });
    const ids = Array.from({ length: 12 }, (_, i) => `f${i}`);
    for (const id of ids) await t.sink.commit(makeRecord({ id, user: 'u'.repeat(2000) }));
    assert.equal(t.sink.stats.ledgerWritable, false);
    assert.equal(t.sink.refusal()?.code, 'TM_LEDGER_UNAVAILABLE');
    assert.equal(t.sink.stats.refusedCalls, 1);
    const stored = await t.ledger.count();
    assert.ok(stored < ids.length, 'the cap was reached');
    assert.equal(t.sink.stats.journalPending, ids.length - stored);
    await t.sink.close();
    await t.ledger.close();

    // The next start, with room again: the journal is imported before any call.
    const ledger = createSqliteLedger(t.ledgerPath);
    const sink = createRecordSink(ledger, [], silent, {
      journal: openFallbackJournal(t.journalPath),
      whenUnavailable: 'refuse',
    });
    await sink.recover();
    assert.equal(await ledger.count(), ids.length);
    assert.equal(sink.refusal(), undefined);
    assert.equal(sink.health().ready, true);
    await sink.close();
    await ledger.close();
  });

  it('neither ledger nor journal: records are held in memory, calls refused, then flushed when the journal writes', async () => {
    const t = setUp({ journalBlocked: true });
    const lock = lockLedger(t.ledgerPath);
    await t.sink.commit(makeRecord({ id: 'h1' }));
    await t.sink.commit(makeRecord({ id: 'h2' }));
    assert.equal(t.sink.stats.pending, 2);
    assert.equal(t.sink.stats.journalWriteFailures, 2);
    assert.deepEqual(t.observed, [], 'not durable yet: not observed');
    assert.equal(t.sink.refusal()?.code, 'TM_LEDGER_UNAVAILABLE', 'serve refuses too when nothing can write');
    assert.equal(t.sink.health().pendingInMemory, 2);

    rmdirSync(t.journalPath);
    await t.sink.recover();
    assert.equal(t.sink.stats.pending, 0);
    assert.deepEqual(journalIds(t.journalPath), ['h1', 'h2']);
    assert.deepEqual(t.observed, ['h1', 'h2']);
    assert.equal(t.sink.refusal(), undefined, 'the journal writes: serve again');

    lock.release();
    await t.sink.recover();
    assert.equal(await t.ledger.count(), 2);
    assert.equal(t.sink.health().ready, true);
    await t.sink.close();
    await t.ledger.close();
  });

  it('the memory bound never drops silently: the excess goes to stderr as JSON lines', async () => {
    const t = setUp({ journalBlocked: true, maxPending: 2 });
    const lock = lockLedger(t.ledgerPath);
    for (const id of ['a', 'b', 'c']) await t.sink.commit(makeRecord({ id }));
    assert.equal(t.sink.stats.pending, 2);
    assert.equal(t.sink.stats.dropped, 1);
    assert.deepEqual(t.spilled, [makeRecord({ id: 'c' })]);
    lock.release();
    await t.sink.close();
    assert.equal(await t.ledger.count(), 2, 'close made one last attempt at the held ones');
    await t.ledger.close();
  });

  it('close with records nothing can take writes each to stderr; with a journal, they wait there for the next start', async () => {
    const blocked = setUp({ journalBlocked: true });
    let lock = lockLedger(blocked.ledgerPath);
    await blocked.sink.commit(makeRecord({ id: 's1' }));
    await blocked.sink.commit(makeRecord({ id: 's2' }));
    await blocked.sink.close();
    lock.release();
    assert.deepEqual(
      blocked.spilled.map((r) => r.id),
      ['s1', 's2'],
    );
    assert.equal(blocked.sink.stats.dropped, 2);
    await blocked.ledger.close();

    const journaled = setUp();
    lock = lockLedger(journaled.ledgerPath);
    await journaled.sink.commit(makeRecord({ id: 'j1' }));
    await journaled.sink.close();
    lock.release();
    assert.deepEqual(journaled.spilled, []);
    // The last attempt may have begun an import (the journal is then `.importing`): either way
    // the next start finds the record.
    assert.equal(openFallbackJournal(journaled.journalPath).pendingRecords, 1);
    await journaled.ledger.close();
    const ledger = createSqliteLedger(journaled.ledgerPath);
    const sink = createRecordSink(ledger, [], silent, {
      journal: openFallbackJournal(journaled.journalPath),
    });
    await sink.recover();
    assert.ok(await ledger.get('j1'));
    await sink.close();
    await ledger.close();
  });

  it('without a journal (in-memory ledger) a failing ledger holds records in memory and refuses calls', async () => {
    const ledger = createSqliteLedger(':memory:', { maxPageCount: 1 });
    const sink = createRecordSink(ledger, [], silent, {
      retryDelayMs: 60_000,
      writeUnrecorded: () => undefined,
    });
    for (let i = 0; i < 12; i++) await sink.commit(makeRecord({ id: `m${i}`, user: 'u'.repeat(2000) }));
    assert.ok(sink.stats.pending > 0);
    assert.equal(sink.refusal()?.code, 'TM_LEDGER_UNAVAILABLE');
    assert.equal(sink.health().journal, undefined);
    await sink.close();
    assert.equal(sink.stats.dropped + (await ledger.count()), 12, 'every record accounted for');
    await ledger.close();
  });

  it('a record the ledger refuses on its own goes through the journal to the set-aside file; the ledger stays in use', async () => {
    const t = setUp();
    const other = new Database(t.ledgerPath);
    other.exec(`CREATE TRIGGER refuse_bad BEFORE INSERT ON usage_records WHEN NEW.id = 'bad'
                BEGIN SELECT RAISE(ABORT, 'refused'); END`);
    other.close();
    await t.sink.commit(makeRecord({ id: 'bad' }));
    assert.equal(t.sink.stats.ledgerWritable, true);
    assert.equal(t.sink.refusal(), undefined);
    await t.sink.commit(makeRecord({ id: 'good' }));
    assert.ok(await t.ledger.get('good'), 'not diverted to the journal');
    await t.sink.recover();
    assert.equal(t.sink.stats.journalLinesRejected, 1);
    assert.equal(t.sink.health().ready, true);
    assert.match(readFileSync(`${t.journalPath}.rejected`, 'utf8'), /"id\\":\\"bad\\"/);
    await t.sink.close();
    await t.ledger.close();
  });

  it('an observer that throws is counted and does not stop the others', async () => {
    const ledger = createSqliteLedger(join(dir, 'observers.db'));
    const seen: string[] = [];
    const sink = createRecordSink(
      ledger,
      [
        {
          observe: () => {
            throw new Error('boom');
          },
        },
        { observe: (r) => seen.push(r.id) },
      ],
      silent,
    );
    await sink.commit(makeRecord({ id: 'x' }));
    assert.equal(sink.stats.observerFailures, 1);
    assert.deepEqual(seen, ['x']);
    await sink.close();
    await ledger.close();
  });
});
