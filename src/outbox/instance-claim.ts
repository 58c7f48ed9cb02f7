import { randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { listSegments } from './segment-files.js';

/**
 * Which gateway process owns an instance directory of the outbox root: `owner.lock`, created
 * with O_EXCL, holds `{pid, host}`. A lock whose process is gone on this host is stale and is
 * taken over; a lock from another host is always taken as live (its pid means nothing here), so
 * an outbox root shared over a network file system needs `ledger.outbox` per host.
 */
export const LOCK_FILE = 'owner.lock';

interface LockOwner {
  pid: number;
  host: string;
}

/** What a process claimed at start. */
export interface InstanceClaim {
  /** The instance directory this process writes its journal into. */
  dir: string;
  /** Other directories whose records a crashed owner left: this process drains them. */
  adopted: string[];
  /** Gives every claimed directory back (owner.lock removed). */
  release(): void;
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

const readOwner = (path: string): LockOwner | undefined => {
  try {
    const value = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    if (typeof value.pid === 'number' && typeof value.host === 'string')
      return { pid: value.pid, host: value.host };
  } catch {
    // Unreadable or half-written (a crash between create and write): treated as stale below.
  }
  return undefined;
};

const ownerText = (): string => JSON.stringify({ pid: process.pid, host: hostname() });

/** True when the lock at `path` names a live process (or one on another host). */
function lockIsLive(path: string): boolean {
  const owner = readOwner(path);
  if (owner === undefined) {
    // A lock being written right now is young: leave it to its writer for a few seconds.
    try {
      return Date.now() - statSync(path).mtimeMs < 5000;
    } catch {
      return false;
    }
  }
  if (owner.host !== hostname()) return true;
  if (owner.pid === process.pid) return true;
  return isAlive(owner.pid);
}

/**
 * Takes `dir` when nobody live holds it. A stale lock is replaced under a second O_EXCL file
 * (`owner.lock.takeover`), so two processes starting at once cannot both take the same stale
 * lock (one would otherwise remove the lock the other had just written).
 */
function tryClaim(dir: string): boolean {
  if (createExclusive(join(dir, LOCK_FILE))) return true;
  const lockPath = join(dir, LOCK_FILE);
  if (lockIsLive(lockPath)) return false;
  const takeover = `${lockPath}.takeover`;
  if (!createExclusive(takeover)) {
    if (lockIsLive(takeover)) return false;
    unlinkQuiet(takeover);
    if (!createExclusive(takeover)) return false;
  }
  try {
    if (lockIsLive(lockPath)) return false;
    const tmp = `${lockPath}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, ownerText());
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, lockPath);
    return true;
  } finally {
    unlinkQuiet(takeover);
  }
}

/** Creates `path` with O_EXCL holding this process as owner; false when it exists. */
function createExclusive(path: string): boolean {
  try {
    const fd = openSync(path, 'wx');
    try {
      writeSync(fd, ownerText());
    } finally {
      closeSync(fd);
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}

/**
 * Claims an instance directory under `root` (created when missing): the first unlocked (or
 * stale) directory, else a new one. Every other unlocked directory that still holds segments is
 * claimed too and returned as `adopted`, so that records a crashed instance left are shipped
 * even when it never comes back.
 */
export function claimInstance(root: string): InstanceClaim {
  mkdirSync(root, { recursive: true });
  const held: string[] = [];
  let own: string | undefined;
  const adopted: string[] = [];
  const names = readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  for (const name of names) {
    const dir = join(root, name);
    let segments: number[];
    try {
      segments = listSegments(dir);
    } catch {
      continue;
    }
    if (own !== undefined && segments.length === 0) continue;
    if (!tryClaim(dir)) continue;
    held.push(dir);
    if (own === undefined) own = dir;
    else adopted.push(dir);
  }
  if (own === undefined) {
    for (;;) {
      const dir = join(root, `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`);
      mkdirSync(dir, { recursive: true });
      if (createExclusive(join(dir, LOCK_FILE))) {
        own = dir;
        held.push(dir);
        break;
      }
    }
  }
  return {
    dir: own,
    adopted,
    release() {
      for (const dir of held.splice(0)) unlinkQuiet(join(dir, LOCK_FILE));
    },
  };
}
