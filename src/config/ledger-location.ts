import { accessSync, closeSync, constants, openSync, readSync, statSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { parseLedgerUrl, SQLITE_MEMORY } from '../ledger/ledger.js';

/** Why a ledger URL cannot be used, judged from the text alone, or undefined. */
export function describeLedgerUrlProblem(url: string): string | undefined {
  let location: ReturnType<typeof parseLedgerUrl>;
  try {
    location = parseLedgerUrl(url);
  } catch {
    return url.startsWith('sqlite:')
      ? 'the sqlite: URL has no path (e.g. sqlite:./tokenmeter.db)'
      : 'must be sqlite:PATH or postgres://user:password@host:5432/database';
  }
  if (location.kind === 'postgres') {
    try {
      const parsed = new URL(location.url);
      if (parsed.hostname === '') return 'the postgres:// URL has no host';
    } catch {
      return 'is not a valid postgres:// URL (percent-encode special characters in the password)';
    }
  }
  return undefined;
}

// The first 16 bytes of every SQLite 3 database file (https://www.sqlite.org/fileformat.html).
const SQLITE_HEADER = 'SQLite format 3\0';

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    // ENOTDIR: an ancestor is a file; found when the walk up reaches it.
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

function canAccess(path: string, mode: number): boolean {
  try {
    accessSync(path, mode);
    return true;
  } catch {
    return false;
  }
}

function readHeader(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(SQLITE_HEADER.length);
    const read = readSync(fd, buffer, 0, buffer.length, 0);
    return buffer.subarray(0, read).toString('latin1');
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether the gateway can open (or create) the SQLite ledger a URL names, checked on the file
 * system without creating anything: the file, when present, is a readable and writable SQLite
 * database (or empty); its directory, or the nearest existing ancestor when it must be created,
 * is a writable directory (SQLite keeps its -wal and -shm files beside the database). Returns
 * why not, in one line, or undefined. Relative paths are resolved against `cwd`, as serve does.
 * `config check` and `serve` both run it, so a config check says OK only to a ledger serve can
 * open; serve still reports a failure to open as a start-up error (the file system may change).
 */
export function describeLedgerLocationProblem(url: string, cwd: string = process.cwd()): string | undefined {
  if (describeLedgerUrlProblem(url) !== undefined) return undefined; // reported by the schema
  const location = parseLedgerUrl(url, cwd);
  if (location.kind !== 'sqlite' || location.path === SQLITE_MEMORY) return undefined;
  const file = location.path;
  try {
    const stats = statOrUndefined(file);
    if (stats !== undefined) {
      if (stats.isDirectory()) return `${file} is a directory, not a ledger file`;
      if (!stats.isFile()) return `${file} is not a regular file`;
      if (!canAccess(file, constants.R_OK | constants.W_OK))
        return `${file} cannot be read and written (permission denied)`;
      if (stats.size > 0 && readHeader(file) !== SQLITE_HEADER) return `${file} is not an SQLite database`;
      if (!canAccess(dirname(file), constants.W_OK | constants.X_OK))
        return `${dirname(file)} is not writable: SQLite needs its -wal and -shm files beside the ledger`;
      return undefined;
    }
    // Missing: the nearest existing ancestor must be a directory we may create entries in.
    let ancestor = dirname(file);
    let ancestorStats = statOrUndefined(ancestor);
    while (ancestorStats === undefined && dirname(ancestor) !== ancestor) {
      ancestor = dirname(ancestor);
      ancestorStats = statOrUndefined(ancestor);
    }
    if (ancestorStats === undefined) return `${file} cannot be created: no existing parent directory`;
    if (!ancestorStats.isDirectory()) return `${file} cannot be created: ${ancestor} is not a directory`;
    if (!canAccess(ancestor, constants.W_OK | constants.X_OK))
      return `${file} cannot be created: ${ancestor} is not writable`;
    return undefined;
  } catch (err) {
    return `${file} cannot be checked: ${err instanceof Error ? err.message : String(err)}`;
  }
}
