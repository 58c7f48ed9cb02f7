import Database from 'better-sqlite3';

/** One ledger row as stored (snake_case columns), read straight from the SQLite file. */
export type LedgerRow = Record<string, string | number | null>;

/** Reads every usage record in the ledger file, oldest first (ids are time-ordered UUIDv7; a second reader, as WAL allows). */
export function readLedgerRows(path: string): LedgerRow[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT * FROM usage_records ORDER BY time, id').all() as LedgerRow[];
  } finally {
    db.close();
  }
}
