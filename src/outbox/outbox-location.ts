import { isAbsolute, resolve } from 'node:path';
import { SQLITE_MEMORY, type LedgerLocation } from '../ledger/ledger.js';

/**
 * The outbox root of a ledger: `ledger.outbox` when configured (relative to `cwd`), else
 * `<sqlite file>.outbox` beside an SQLite file, else `./tokenmeter-outbox` for PostgreSQL.
 * Undefined for an in-memory SQLite ledger: it keeps the direct write path (nothing would
 * survive a restart to ship into anyway).
 */
export function outboxRoot(
  location: LedgerLocation,
  configured: string | undefined,
  cwd: string = process.cwd(),
): string | undefined {
  if (location.kind === 'sqlite' && location.path === SQLITE_MEMORY) return undefined;
  if (configured !== undefined) return isAbsolute(configured) ? configured : resolve(cwd, configured);
  if (location.kind === 'sqlite') return `${location.path}.outbox`;
  return resolve(cwd, 'tokenmeter-outbox');
}
