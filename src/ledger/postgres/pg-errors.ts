import { TokenmeterError } from '../../errors.js';

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
