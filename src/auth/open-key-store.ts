import { parseLedgerUrl, SQLITE_MEMORY } from '../ledger/ledger.js';
import type { KeyStore } from './key-store.js';
import { createPostgresKeyStore, type PostgresKeyStoreOptions } from './postgres-key-store.js';
import { createSqliteKeyStore, type SqliteKeyStoreOptions } from './sqlite-key-store.js';

/** Options of either store; each backend reads its own (SQLite's are ignored by PostgreSQL). */
export type KeyStoreOptions = SqliteKeyStoreOptions & PostgresKeyStoreOptions & { cwd?: string };

/**
 * Opens the managed key store of the ledger a URL names (the one place that knows every
 * backend). Returns undefined for an in-memory ledger: no other process could see its keys, so
 * it has none. A PostgreSQL store connects (and creates its tables) on its first call, so
 * opening one never fails for an unreachable server; its calls do. Throws TM_CONFIG_INVALID
 * for a bad URL.
 */
export function openKeyStore(ledgerUrl: string, options: KeyStoreOptions = {}): KeyStore | undefined {
  const location = parseLedgerUrl(ledgerUrl, options.cwd);
  if (location.kind === 'postgres')
    return createPostgresKeyStore(
      location.url,
      options.connectTimeoutSec !== undefined ? { connectTimeoutSec: options.connectTimeoutSec } : {},
    );
  if (location.path === SQLITE_MEMORY) return undefined;
  return createSqliteKeyStore(location.path, options);
}
