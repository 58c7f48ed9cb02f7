import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { startWalCheckpointer } from '../../src/ledger/wal-checkpointer.js';
import { makeRecord } from './fixtures/records.js';

test('the background checkpointer moves WAL pages into the database while the writer writes', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'tokenmeter-wal-')), 'ledger.db');
  const ledger = createSqliteLedger(path);
  for (let i = 0; i < 200; i++) await ledger.append(makeRecord({ id: `id-${String(i).padStart(4, '0')}` }));
  const errors: string[] = [];
  // A second checkpointer on the same file, on a short interval, to observe its effect.
  const checkpointer = startWalCheckpointer(path, (m) => errors.push(m), 20);
  assert.ok(statSync(`${path}-wal`).size > 0, 'the rows are in the WAL');
  const dbBefore = statSync(path).size;
  // Bounded wait for the worker's first checkpoint to copy the WAL pages into the database file.
  for (let i = 0; i < 100 && statSync(path).size <= dbBefore; i++)
    await new Promise((r) => setTimeout(r, 20));
  assert.ok(statSync(path).size > dbBefore, 'pages reached the database file');
  await checkpointer.close();
  await ledger.close();
  assert.deepEqual(errors, []);
  assert.ok(!existsSync(`${path}-wal`) || statSync(`${path}-wal`).size === 0, 'closing truncates the WAL');
  const reopened = createSqliteLedger(path);
  assert.equal(await reopened.count(), 200);
  await reopened.close();
});

test('a ledger opened only to read starts no checkpointer and leaves the WAL alone', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'tokenmeter-wal-')), 'ledger.db');
  const writer = createSqliteLedger(path);
  await writer.append(makeRecord({ id: 'only' }));
  const reader = createSqliteLedger(path);
  assert.equal(await reader.count(), 1);
  await reader.close();
  await writer.append(makeRecord({ id: 'second' }));
  assert.equal(await writer.count(), 2);
  await writer.close();
});
