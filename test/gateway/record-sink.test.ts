import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { createRecordSink } from '../../src/gateway/record-sink.js';
import type { Ledger } from '../../src/ledger/ledger.js';
import type { UsageRecord } from '../../src/ledger/record.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { makeRecord } from '../ledger/fixtures/records.js';

/** A real SQLite ledger whose next `failures` appends fail, as a full disk or a locked file would. */
function flakyLedger(failures: number): Ledger & { failuresLeft: () => number } {
  const inner = createSqliteLedger(join(mkdtempSync(join(tmpdir(), 'tokenmeter-sink-')), 'ledger.db'));
  let left = failures;
  return {
    ...inner,
    append(record: UsageRecord) {
      if (left > 0) {
        left--;
        return Promise.reject(new Error('SQLITE_FULL: database or disk is full'));
      }
      return inner.append(record);
    },
    failuresLeft: () => left,
  };
}

const silent = pino({ level: 'silent' });

test('a failed append never fails the call; the record is retried until the ledger takes it', async () => {
  const ledger = flakyLedger(3);
  const observed: string[] = [];
  const sink = createRecordSink(ledger, [{ observe: (r) => observed.push(r.id) }], silent, {
    retryDelayMs: 5,
  });
  await sink.commit(makeRecord({ id: 'a' }));
  await sink.commit(makeRecord({ id: 'b' }));
  assert.equal(sink.stats.pending, 2);
  assert.deepEqual(observed, [], 'metrics follow the ledger: nothing observed before it is committed');
  for (let i = 0; i < 200 && sink.stats.pending > 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(sink.stats.pending, 0);
  assert.equal(sink.stats.appendFailures, 3);
  assert.equal(await ledger.count(), 2);
  assert.deepEqual(observed, ['a', 'b']);
  await sink.close();
  await ledger.close();
});

test('the retry queue is bounded: past it records are dropped and counted, not held forever', async () => {
  const ledger = flakyLedger(1000);
  const sink = createRecordSink(ledger, [], silent, { maxPending: 2, retryDelayMs: 60_000 });
  for (const id of ['a', 'b', 'c']) await sink.commit(makeRecord({ id }));
  assert.equal(sink.stats.pending, 2);
  assert.equal(sink.stats.dropped, 1);
  await sink.close();
  await ledger.close();
});

test('close() makes one last attempt at what is pending', async () => {
  const ledger = flakyLedger(1);
  const sink = createRecordSink(ledger, [], silent, { retryDelayMs: 60_000 });
  await sink.commit(makeRecord({ id: 'late' }));
  assert.equal(sink.stats.pending, 1);
  await sink.close();
  assert.equal(await ledger.count(), 1);
  await ledger.close();
});

test('an observer that throws is counted and does not stop the others', async () => {
  const ledger = flakyLedger(0);
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
