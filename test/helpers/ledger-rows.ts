import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { countPending } from '../../src/outbox/segment-files.js';

/** One ledger row as stored (snake_case columns), read straight from the SQLite file. */
export type LedgerRow = Record<string, string | number | null>;

/**
 * Reads every usage record in the ledger file, oldest first (ids are time-ordered UUIDv7; a second reader, as WAL allows).
 * A gateway writes the file through its outbox (`<file>.outbox`, docs/outbox.md): the records
 * already in the outbox's journal are shipped first (waits until its worker persisted its
 * offsets past them, at most 5 s), as a record reaches other readers within a second.
 */
export function readLedgerRows(path: string): LedgerRow[] {
  waitForOutbox(`${path}.outbox`);
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT * FROM usage_records ORDER BY time, id').all() as LedgerRow[];
  } finally {
    db.close();
  }
}

function waitForOutbox(root: string): void {
  if (!existsSync(root)) return;
  const pending = (): number =>
    readdirSync(root, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .reduce((sum, e) => sum + countPending(join(root, e.name)), 0);
  const deadline = Date.now() + 5000;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  // Synchronous, as callers expect: the worker shipping is another thread (or process).
  while (pending() > 0 && Date.now() < deadline) Atomics.wait(pause, 0, 0, 10);
}
