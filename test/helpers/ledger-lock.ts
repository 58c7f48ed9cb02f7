import Database from 'better-sqlite3';

/**
 * Another process's connection holding a ledger's write lock, as a backup tool or an sqlite3
 * shell would: `BEGIN EXCLUSIVE` until `release()`.
 */
export function lockLedger(path: string): { release: () => void } {
  const db = new Database(path);
  db.exec('BEGIN EXCLUSIVE');
  return {
    release: () => {
      db.exec('COMMIT');
      db.close();
    },
  };
}
