import type { PgMigration } from './pg-migrations.js';

/**
 * Migration 2: the state every gateway sharing a PostgreSQL ledger must agree on, the
 * PostgreSQL form of the SQLite ledger's migrations 4 to 6 (ledger-schema.ts), with the same
 * table and column names so that an operator reads both alike. Times are epoch milliseconds
 * (bigint), as in SQLite, so the stores map rows the same way.
 *
 * - managed_subscriptions, managed_keys, managed_key_secrets: `tokenmeter keys`
 *   (src/auth/postgres-key-store.ts). A key holds no secret, only the SHA-256 digests of its
 *   live secrets. managed_key_changes is one counter row bumped by every change in the change's
 *   own transaction: gateways poll it, not the tables; its row lock also serialises concurrent
 *   changes at their end, which is why every change takes it last (no lock-order deadlock).
 * - budget_alerts, report_deliveries: claims that make an alert or a month's report go out once
 *   across gateways (pg-claims.ts); the primary keys are what `INSERT … ON CONFLICT` races on.
 *
 * Independent of migration 1 (records): nothing here refers to its tables.
 */
export const SHARED_STATE_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 2,
    name: 'managed keys, budget alerts, report deliveries',
    sql: `
      CREATE TABLE managed_subscriptions (
        id text PRIMARY KEY,
        product text NOT NULL,
        owner text,
        cost_center text,
        metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at bigint NOT NULL
      );
      CREATE TABLE managed_keys (
        id text PRIMARY KEY,
        subscription text NOT NULL,
        product text NOT NULL,
        owner text,
        created_at bigint NOT NULL,
        expires_at bigint,
        revoked_at bigint
      );
      CREATE TABLE managed_key_secrets (
        digest bytea PRIMARY KEY CHECK (octet_length(digest) = 32),
        key_id text NOT NULL REFERENCES managed_keys (id),
        created_at bigint NOT NULL,
        retires_at bigint
      );
      -- Revoke and rotate delete and update a key's secrets by key id.
      CREATE INDEX managed_key_secrets_key_id ON managed_key_secrets (key_id);
      CREATE TABLE managed_key_changes (
        id integer PRIMARY KEY CHECK (id = 1),
        counter bigint NOT NULL
      );
      INSERT INTO managed_key_changes (id, counter) VALUES (1, 0);

      CREATE TABLE budget_alerts (
        subscription text NOT NULL,
        month text NOT NULL,
        unit text NOT NULL CHECK (unit IN ('tokens', 'cost')),
        threshold double precision NOT NULL,
        channel text NOT NULL CHECK (channel IN ('webhook', 'email')),
        claim text,
        claimed_at bigint NOT NULL,
        sent_at bigint,
        PRIMARY KEY (subscription, month, unit, threshold, channel)
      );
      CREATE TABLE report_deliveries (
        month text NOT NULL,
        channel text NOT NULL CHECK (channel IN ('email', 'webhook')),
        recipient text NOT NULL,
        claim text,
        claimed_at bigint NOT NULL,
        sent_at bigint,
        PRIMARY KEY (month, channel, recipient)
      );`,
  },
];
