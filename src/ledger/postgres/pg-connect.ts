import postgres from 'postgres';

/** A pool of connections to the PostgreSQL ledger (the `postgres` driver, DESIGN.md). */
export type PgSql = postgres.Sql;

export interface PgConnectOptions {
  /** Connections in the pool (default 4). */
  max?: number;
  /** Seconds to wait for a connection before failing (default 5). */
  connectTimeoutSec?: number;
}

/**
 * Opens a pool for a `postgres://` ledger URL. Nothing connects until the first query, so an
 * unreachable server shows up as a failing query, never as a failing open.
 */
export function connectPostgres(url: string, options: PgConnectOptions = {}): PgSql {
  return postgres(url, {
    max: options.max ?? 4,
    connect_timeout: options.connectTimeoutSec ?? 5,
    idle_timeout: 60,
    onnotice: () => {},
    // Sums and counts are bigint (int8) and numeric in SQL; the ledger's figures fit in a double.
    types: {
      int8: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
      numeric: {
        to: 1700,
        from: [1700],
        serialize: (x: number) => String(x),
        parse: (x: string) => Number(x),
      },
    },
    transform: { undefined: null },
  });
}
