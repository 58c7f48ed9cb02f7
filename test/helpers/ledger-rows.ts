import Database from 'better-sqlite3';

/** One ledger row as stored (snake_case columns), read straight from the SQLite file. */
export type LedgerRow = Record<string, string | number | null>;

/** Reads every usage record in the ledger file, oldest first (a second reader; WAL allows it). */
export function readLedgerRows(path: string): LedgerRow[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT * FROM usage_records ORDER BY time, rowid').all() as LedgerRow[];
  } finally {
    db.close();
  }
}
