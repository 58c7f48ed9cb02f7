import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { makeRecord, makeTempDir } from './fixtures/records.js';

const HOUR = 3_600_000;
const BASE = Date.UTC(2025, 5, 1);

/** The names a scan of every record's JSON finds (what customDimensionNames read before the index). */
function scannedNames(path: string): string[] {
  const db = new Database(path, { readonly: true });
  try {
    return db
      .prepare<[], string>('SELECT DISTINCT j.key FROM usage_records, json_each(usage_records.custom) AS j')
      .pluck()
      .all()
      .sort();
  } finally {
    db.close();
  }
}

function storedNames(path: string): string[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare<[], string>('SELECT name FROM usage_custom_names ORDER BY name').pluck().all();
  } finally {
    db.close();
  }
}

describe('custom dimension names beside the rollups', () => {
  it('lists the names of flushed and unflushed records, from the index table once flushed', async () => {
    const temp = await makeTempDir();
    after(() => void temp.cleanup());
    const path = join(temp.dir, 'names.db');
    const writer = createSqliteLedger(path, { rollupFlushMs: 3_600_000 });
    const reader = createSqliteLedger(path, { rollupFlushMs: 3_600_000 });
    try {
      await writer.append(makeRecord({ id: 'a', time: BASE, custom: { team: 'x', app: 'y' } }));
      await writer.append(makeRecord({ id: 'b', time: BASE + 5 * HOUR, custom: {} }));
      // Not flushed yet: the table is empty, the hours are marked and read from the records.
      assert.deepEqual(storedNames(path), []);
      assert.deepEqual(await reader.customDimensionNames(), ['app', 'team']);
      await writer.flushRollups();
      assert.deepEqual(storedNames(path), ['app', 'team']);
      await writer.append(makeRecord({ id: 'c', time: BASE + 2 * HOUR, custom: { region: 'eu' } }));
      assert.deepEqual(await reader.customDimensionNames(), ['app', 'region', 'team']);
      assert.deepEqual(await reader.customDimensionNames(), scannedNames(path));
    } finally {
      await reader.close();
      await writer.close();
    }
    assert.deepEqual(storedNames(path), ['app', 'region', 'team']);
  });

  it('fills the table when rollups are built on open, and after a crash from the rebuilt hours', async () => {
    const temp = await makeTempDir();
    after(() => void temp.cleanup());
    const path = join(temp.dir, 'built.db');
    const plain = createSqliteLedger(path, { rollups: false });
    await plain.append(makeRecord({ id: 'a', time: BASE, custom: { costCenter: 'CC-1' } }));
    await plain.close();
    const crashed = createSqliteLedger(path, { rollupFlushMs: 3_600_000, rollupLeaseMs: 0 });
    await crashed.append(makeRecord({ id: 'b', time: BASE + HOUR, custom: { project: 'p' } }));
    crashed.dropRollupDeltas();
    const reopened = createSqliteLedger(path, { rollupLeaseMs: 0 });
    try {
      await reopened.flushRollups();
      assert.deepEqual(await reopened.customDimensionNames(), ['costCenter', 'project']);
      assert.deepEqual(storedNames(path), ['costCenter', 'project']);
    } finally {
      await reopened.close();
      await crashed.close();
    }
  });
});
