import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { startPostgresServer, type PostgresServer } from '../../scripts/postgres-server.mjs';

export type { PostgresServer };

let shared: Promise<string> | undefined;

/**
 * The shared test server's URL: TOKENMETER_TEST_PG_URL (set by scripts/run-tests.mjs and CI),
 * else a private server started once for this test process and stopped at its exit.
 */
function sharedServerUrl(): Promise<string> {
  const fromEnv = process.env['TOKENMETER_TEST_PG_URL'];
  if (fromEnv !== undefined && fromEnv !== '') return Promise.resolve(fromEnv);
  shared ??= startPostgresServer().then((server) => {
    process.once('exit', () => void server.destroy());
    return server.url;
  });
  return shared;
}

/** Replaces the database name of a postgres:// URL. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** A database of its own for one test, on the shared server; drop() removes it. */
export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = await sharedServerUrl();
  const name = `t_${randomUUID().replaceAll('-', '')}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return {
    url: withDatabase(serverUrl, name),
    async drop() {
      const sql = postgres(serverUrl, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await sql.end();
      }
    },
  };
}

/** A private server of its own (fault tests stop and start it); destroy() removes it. */
export function startPrivatePostgres(): Promise<PostgresServer> {
  return startPostgresServer();
}
