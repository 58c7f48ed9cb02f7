import type { PgSql } from './pg-connect.js';
import { RECORD_MIGRATIONS } from './pg-schema-records.js';
import { SHARED_STATE_MIGRATIONS } from './pg-schema-shared-state.js';

/** One versioned step of the PostgreSQL schema; never edited once released. */
export interface PgMigration {
  version: number;
  name: string;
  /** Statements run in one transaction. */
  sql: string;
}

/** Every migration in version order: records and rollups (1), keys and claims (2), … */
export const PG_MIGRATIONS: readonly PgMigration[] = [...RECORD_MIGRATIONS, ...SHARED_STATE_MIGRATIONS].sort(
  (a, b) => a.version - b.version,
);

/** The advisory lock key that serialises migrations across gateways starting at once. */
const MIGRATION_LOCK = 0x746f6b6d; // 'tokm'

/**
 * Brings the schema up to date: in one transaction holding a transaction-level advisory lock,
 * so that several instances starting at once migrate once and the others wait, then see the
 * versions applied. Returns the versions this call applied.
 */
export async function migratePostgres(sql: PgSql): Promise<number[]> {
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS tokenmeter_schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`;
    const rows = await tx<{ version: number }[]>`SELECT version FROM tokenmeter_schema_migrations`;
    const done = new Set(rows.map((r) => r.version));
    const applied: number[] = [];
    for (const migration of PG_MIGRATIONS) {
      if (done.has(migration.version)) continue;
      await tx.unsafe(migration.sql);
      await tx`INSERT INTO tokenmeter_schema_migrations (version, name) VALUES (${migration.version}, ${migration.name})`;
      applied.push(migration.version);
    }
    return applied;
  });
}
