import { isTokenmeterError } from '../errors.js';
import { CliInputError } from './cli-error.js';

/** Where the gateway was asked to listen, for messages. */
export interface ListenTarget {
  host: string;
  port: number;
}

function field(err: unknown, name: 'code' | 'syscall'): string | undefined {
  if (typeof err !== 'object' || err === null || !(name in err)) return undefined;
  const value = (err as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  // One line, whatever the underlying library put in its message.
  return text.split('\n', 1)[0] ?? text;
}

/** Listen errors a user can fix, by code: what to say after "cannot listen on HOST:PORT: ". */
const LISTEN_FAILURES: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the address is already in use; choose another port (gateway.port or --port)',
  EADDRNOTAVAIL: 'the address is not available on this machine; check gateway.host',
  EACCES: 'permission denied (ports below 1024 need privileges); choose another port',
  EPERM: 'permission denied (ports below 1024 need privileges); choose another port',
  ENOTFOUND: 'the host name does not resolve; check gateway.host',
  EAI_AGAIN: 'the host name does not resolve; check gateway.host',
};

/** Codes of a write that failed for want of space: SQLite's own, and the system's. */
const DISK_FULL_CODES = new Set(['SQLITE_FULL', 'ENOSPC', 'EDQUOT']);

/** Whether an error, or one of its causes, says the disk (or the quota) is full. */
function isDiskFull(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 5; depth++) {
    const code = field(e, 'code');
    if (code !== undefined && DISK_FULL_CODES.has(code)) return true;
    e = typeof e === 'object' && e !== null && 'cause' in e ? (e as { cause?: unknown }).cause : undefined;
  }
  return false;
}

/**
 * Why the gateway could not start, in one line: the listen errors a user can fix (address in use
 * or not on this machine, no permission for a low port, unknown host name), a ledger that cannot
 * be opened (TM_LEDGER_UNAVAILABLE from startGateway; "disk full" said when SQLite or the
 * system says so), or else the error's own first line.
 * Never a stack trace.
 */
export function describeStartupFailure(err: unknown, target: ListenTarget): string {
  const code = field(err, 'code');
  const syscall = field(err, 'syscall');
  const listening = syscall === 'listen' || syscall === 'bind' || syscall === 'getaddrinfo';
  const listenFailure = code === undefined || !listening ? undefined : LISTEN_FAILURES[code];
  if (listenFailure !== undefined) {
    const host = target.host.includes(':') ? `[${target.host}]` : target.host;
    return `cannot listen on ${host}:${target.port}: ${listenFailure}`;
  }
  if (isTokenmeterError(err) && err.code === 'TM_LEDGER_UNAVAILABLE') {
    const line = firstLine(err);
    return isDiskFull(err)
      ? `${line} (disk full: free space on the ledger's file system, then start again)`
      : line;
  }
  const message = firstLine(err);
  return `cannot start: ${message}${code !== undefined && !message.includes(code) ? ` (${code})` : ''}`;
}

/**
 * Runs a start-up step; any failure becomes a CliInputError (one line on stderr, exit 2, as the
 * README promises for `serve`), described by describeStartupFailure.
 */
export async function startOrExplain<T>(start: () => Promise<T>, target: ListenTarget): Promise<T> {
  try {
    return await start();
  } catch (err) {
    throw new CliInputError(describeStartupFailure(err, target));
  }
}
