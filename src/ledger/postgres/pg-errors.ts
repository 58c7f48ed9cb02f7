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

/**
 * How the PostgreSQL ledger tells its errors apart: a record's own fault, a passing conflict
 * to retry, or a server it cannot reach (TM_LEDGER_UNAVAILABLE, naming host:port, never the
 * password).
 */

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Whether the server answered this error (a PostgresError has a severity and a SQLSTATE). */
function isServerError(err: unknown): boolean {
  return typeof (err as { severity?: unknown } | null | undefined)?.severity === 'string';
}

/** A record the ledger refuses before sending it (a time that is not a number of milliseconds). */
export class PgRecordRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PgRecordRefused';
  }
}

/**
 * Errors one record can cause: data exceptions (class 22: invalid text such as a NUL character,
 * a number out of range) and integrity violations (class 23: a NOT NULL or CHECK constraint).
 * Everything else says the store cannot write now.
 */
export function isPgRecordError(err: unknown): boolean {
  if (err instanceof PgRecordRefused) return true;
  const code = codeOf(err);
  return isServerError(err) && code !== undefined && (code.startsWith('22') || code.startsWith('23'));
}

/** Deadlocks and serialization failures: the transaction can simply run again. */
export function isPgRetryable(err: unknown): boolean {
  const code = codeOf(err);
  return code === '40P01' || code === '40001';
}

/**
 * Errors that mean the server is out of reach or refuses this client: network errors and the
 * driver's connection errors, and the server's connection, resource, operator and
 * authorisation classes (08, 53, 57, 28, 3D: a database that does not exist).
 */
export function isPgUnavailable(err: unknown): boolean {
  if (err instanceof TokenmeterError) return err.code === 'TM_LEDGER_UNAVAILABLE';
  const code = codeOf(err);
  if (code === undefined) return false;
  if (!isServerError(err)) return true;
  return ['08', '53', '57', '28', '3D'].some((cls) => code.startsWith(cls));
}

/** host:port of a postgres:// URL, for messages (never its user or password). */
export function pgEndpoint(url: URL): string {
  const host = url.hostname === '' ? 'localhost' : url.hostname;
  return `${host}:${url.port === '' ? '5432' : url.port}`;
}

/** Wraps an unavailable-server error as TM_LEDGER_UNAVAILABLE; other errors pass unchanged. */
export function toLedgerError(err: unknown, endpoint: string): unknown {
  if (err instanceof TokenmeterError || !isPgUnavailable(err)) return err;
  const cause = err instanceof Error ? err.message : String(err);
  return new TokenmeterError(
    'TM_LEDGER_UNAVAILABLE',
    `the PostgreSQL ledger at ${endpoint} is unavailable: ${cause}`,
    { cause: err },
  );
}
