import { TokenmeterError } from '../../errors.js';
import type { PgSql } from './pg-connect.js';

/**
 * The server and database a postgres:// URL names, for messages: `host:port/database` and the
 * user, never the password (a URL may carry it, and messages reach logs and terminals).
 */
export function describePgServer(url: string): string {
  try {
    const parsed = new URL(url);
    const user = parsed.username === '' ? '' : `${decodeURIComponent(parsed.username)}@`;
    const port = parsed.port === '' ? '5432' : parsed.port;
    return `postgres://${user}${parsed.hostname}:${port}${parsed.pathname}`;
  } catch {
    return 'the PostgreSQL ledger (unparsable URL)';
  }
}

/** As describePgServer, for an open pool (its parsed options hold no password to leak). */
export function describePgPool(sql: PgSql): string {
  const { host, port, database, user } = sql.options;
  return `postgres://${user}@${host[0] ?? ''}:${port[0] ?? 5432}/${database}`;
}

// Socket-level failures (node:net, DNS) and the driver's own connection errors: the server
// cannot be reached now, and may be later.
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
]);

// SQLSTATEs of a server that is there but will not serve now: shutting down, starting, full.
const NOT_SERVING = new Set(['57P01', '57P02', '57P03', '53300']);
// SQLSTATEs of a configuration that can never work: bad credentials, no such database.
const MISCONFIGURED: Record<string, string> = {
  '28P01': 'refused the credentials',
  '28000': 'refused the connection',
  '3D000': 'has no such database',
};

/**
 * A driver error as a TokenmeterError when it is about reaching the server: TM_LEDGER_UNAVAILABLE
 * when it is unreachable or not serving (retrying may help), TM_CONFIG_INVALID for a wrong
 * password, an unknown user or database (it will not). Anything else (a constraint, a bug) is
 * returned as it was. `server` names the server in messages (describePgServer, describePgPool).
 */
export function toPgConnectionError(err: unknown, server: string): unknown {
  if (typeof err !== 'object' || err === null) return err;
  const rawCode = (err as { code?: unknown }).code;
  const code = typeof rawCode === 'string' ? rawCode : '';
  const reason = err instanceof Error ? err.message : 'unknown error';
  if (UNREACHABLE.has(code) || code.startsWith('08') || NOT_SERVING.has(code))
    return new TokenmeterError(
      'TM_LEDGER_UNAVAILABLE',
      `PostgreSQL ledger ${server} is unreachable: ${reason}`,
      {
        cause: err,
      },
    );
  const problem = MISCONFIGURED[code];
  if (problem !== undefined)
    return new TokenmeterError('TM_CONFIG_INVALID', `PostgreSQL ledger ${server} ${problem}: ${reason}`, {
      cause: err,
    });
  return err;
}

/** Runs `work`, turning connection failures into TokenmeterErrors (toPgConnectionError). */
export async function withPgErrors<T>(server: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw toPgConnectionError(err, server);
  }
}
