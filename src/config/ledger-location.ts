import {
  accessSync,
  closeSync,
  constants,
  fsyncSync,
  openSync,
  readSync,
  statfsSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
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
 * Free space a ledger directory must have at start, bytes. Below it the gateway would start and
 * then fail its first appends (SQLite grows the WAL by pages, the journal by lines): refusing to
 * start says "disk full" where the operator looks first. 1 MiB holds a few thousand records.
 */
export const MIN_FREE_BYTES = 1024 * 1024;

/** The probe file written at start: as large as the first WAL frames of a new ledger. */
const PROBE_BYTES = 64 * 1024;

/** What a failed write's code means for an operator (ENOSPC and friends first). */
const WRITE_FAILURES: Readonly<Record<string, string>> = {
  ENOSPC: 'disk full (no space left on the device)',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file size limit exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  // Creating a file in /proc answers ENOENT, even for root.
  ENOENT: 'files cannot be created there (a pseudo file system such as /proc?)',
};

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${Math.floor(bytes / 1024)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * Whether `dir` (an existing directory) can hold a ledger: its file system has MIN_FREE_BYTES
 * free for this user (statfs `bavail`), and a probe file of PROBE_BYTES can be created, written,
 * synced and removed there. The probe catches what the free-space figure and access(2) do not
 * tell: quotas, a read-only mount, pseudo file systems (/proc, /sys) where even root cannot
 * create files. Returns why not, in one line, or undefined.
 */
export function describeStorageProblem(dir: string): string | undefined {
  try {
    const fs = statfsSync(dir);
    const free = fs.bavail * fs.bsize;
    // Pseudo file systems report 0 blocks in all: the probe below judges them.
    if (fs.blocks > 0 && free < MIN_FREE_BYTES)
      return `disk full: ${formatBytes(free)} free on the file system of ${dir} (the ledger needs at least ${formatBytes(MIN_FREE_BYTES)} at start)`;
  } catch (err) {
    return `cannot read the free space of ${dir}: ${describeWriteError(err)}`;
  }
  const probe = join(dir, `.tokenmeter-probe-${process.pid}`);
  let fd: number | undefined;
  try {
    fd = openSync(probe, 'wx');
    writeSync(fd, Buffer.alloc(PROBE_BYTES));
    fsyncSync(fd);
  } catch (err) {
    const reason = describeWriteError(err);
    return reason.startsWith('disk full')
      ? `${reason}: a test write of ${formatBytes(PROBE_BYTES)} in ${dir} failed`
      : `cannot write in ${dir}: ${reason}`;
  } finally {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(probe);
    } catch {
      // Not created (the open failed), nothing to remove.
    }
  }
  return undefined;
}

function describeWriteError(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return WRITE_FAILURES[code] ?? code;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Whether the gateway can open (or create) the SQLite ledger a URL names: the file, when present,
 * is a readable and writable SQLite database (or empty); its directory, or the nearest existing
 * ancestor when it must be created, is a writable directory (SQLite keeps its -wal and -shm
 * files beside the database) on a file system with room (describeStorageProblem: free space
 * and a probe file, created and removed again: the only change this check makes). Returns why
 * not, in one line, or undefined. Relative paths are resolved against `cwd`, as serve does.
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
      return describeStorageProblem(dirname(file));
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
    const storage = describeStorageProblem(ancestor);
    return storage === undefined ? undefined : `${file} cannot be created: ${storage}`;
  } catch (err) {
    return `${file} cannot be checked: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** The outbox directory a PostgreSQL ledger uses when `ledger.outbox` is not set (schema.ts). */
export const DEFAULT_POSTGRES_OUTBOX = './tokenmeter-outbox';

/**
 * Whether the gateway can keep its outbox where the configuration says: `outbox` when given,
 * else, for a PostgreSQL ledger, DEFAULT_POSTGRES_OUTBOX (an SQLite ledger's default outbox sits
 * beside the ledger file, which describeLedgerLocationProblem checks). The directory, or its
 * nearest existing ancestor when it must be created, is a writable directory with room
 * (describeStorageProblem). With a PostgreSQL ledger the outbox is the only local storage: a
 * full disk there must stop the start as it does for an SQLite ledger. Returns why not, or
 * undefined. Relative paths are resolved against `cwd`.
 */
export function describeOutboxLocationProblem(
  url: string,
  outbox: string | undefined,
  cwd: string = process.cwd(),
): string | undefined {
  if (describeLedgerUrlProblem(url) !== undefined) return undefined; // reported by the schema
  const location = parseLedgerUrl(url, cwd);
  const path = outbox ?? (location.kind === 'postgres' ? DEFAULT_POSTGRES_OUTBOX : undefined);
  if (path === undefined) return undefined;
  const dir = resolve(cwd, path);
  try {
    let existing = dir;
    let stats = statOrUndefined(existing);
    while (stats === undefined && dirname(existing) !== existing) {
      existing = dirname(existing);
      stats = statOrUndefined(existing);
    }
    const what = existing === dir ? `the outbox ${dir}` : `the outbox ${dir} cannot be created:`;
    if (stats === undefined) return `${what} no existing parent directory`;
    if (!stats.isDirectory())
      return existing === dir ? `${what} is not a directory` : `${what} ${existing} is not a directory`;
    if (!canAccess(existing, constants.W_OK | constants.X_OK))
      return existing === dir ? `${what} is not writable` : `${what} ${existing} is not writable`;
    const storage = describeStorageProblem(existing);
    return storage === undefined ? undefined : `${what}${existing === dir ? ':' : ''} ${storage}`;
  } catch (err) {
    return `the outbox ${dir} cannot be checked: ${err instanceof Error ? err.message : String(err)}`;
  }
}
