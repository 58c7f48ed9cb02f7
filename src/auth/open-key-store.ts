import { TokenmeterError } from '../errors.js';
import { parseLedgerUrl, SQLITE_MEMORY } from '../ledger/ledger.js';
import type { KeyStore } from './key-store.js';
import { createSqliteKeyStore, type SqliteKeyStoreOptions } from './sqlite-key-store.js';

/**
 * Opens the managed key store of the ledger a URL names (the one place that knows every
 * backend). Returns undefined for an in-memory ledger: no other process could see its keys, so
 * it has none. Throws TM_CONFIG_INVALID for PostgreSQL (issue #11) and a bad URL.
 */
export function openKeyStore(
  ledgerUrl: string,
  options: SqliteKeyStoreOptions & { cwd?: string } = {},
): KeyStore | undefined {
  const location = parseLedgerUrl(ledgerUrl, options.cwd);
  if (location.kind === 'postgres')
    throw new TokenmeterError(
      'TM_CONFIG_INVALID',
      'managed keys need an SQLite ledger in this version of tokenmeter (PostgreSQL: issue #11)',
    );
  if (location.path === SQLITE_MEMORY) return undefined;
  return createSqliteKeyStore(location.path, options);
}
