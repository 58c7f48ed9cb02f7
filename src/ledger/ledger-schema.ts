import type Database from 'better-sqlite3';
import { TokenmeterError } from '../errors.js';
import { ROLLUP_MIGRATION } from './rollup-schema.js';

/**
 * Schema migrations; `PRAGMA user_version` holds how many have been applied. Append, never edit:
 * a released ledger file has already run the earlier ones. Token counts are nullable (NULL = not
 * reported, never 0); `custom` holds the custom dimensions as a JSON object.
 *
 * 2: the table is keyed by (time, id) WITHOUT ROWID, instead of by id with a separate index on
 * time: one B-tree to update per insert, appended at its end, and time ranges (every usage
 * query) are ranges of the key. The separate index cost ~10 µs of the durable commit every
 * metered call waits for (CPU profiles, 16 streaming connections). A record is written once
 * with its time, so (time, id) identifies it as well as its id did.
 */
/**
 * The columns after `id` of schema version 1, in order. Migration 2 copies a version-1 table
 * with `SELECT *`, so both migrations declare them from here: the copy cannot fall out of step.
 * Frozen like the migrations themselves; a later column comes with a migration of its own.
 */
const V1_COLUMNS_AFTER_ID = `
     time INTEGER NOT NULL,
     api TEXT NOT NULL,
     operation TEXT NOT NULL,
     product TEXT, "user" TEXT, subscription TEXT, ip TEXT, location TEXT, gateway TEXT,
     backend TEXT, model TEXT, response_model TEXT, provider TEXT,
     stream INTEGER NOT NULL CHECK (stream IN (0, 1)),
     custom TEXT NOT NULL DEFAULT '{}',
     prompt_tokens INTEGER, completion_tokens INTEGER, total_tokens INTEGER,
     cached_tokens INTEGER, cache_write_tokens INTEGER, reasoning_tokens INTEGER,
     source TEXT NOT NULL CHECK (source IN ('reported', 'estimated', 'partial')),
     status INTEGER NOT NULL,
     latency_ms REAL NOT NULL,
     upstream_request_id TEXT,
     cost REAL`;

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE usage_records (
     id TEXT PRIMARY KEY,${V1_COLUMNS_AFTER_ID}
   ) WITHOUT ROWID;
   CREATE INDEX usage_records_time ON usage_records (time);`,
  `CREATE TABLE usage_records_by_time (
     id TEXT NOT NULL,${V1_COLUMNS_AFTER_ID},
     PRIMARY KEY (time, id)
   ) WITHOUT ROWID;
   INSERT INTO usage_records_by_time SELECT * FROM usage_records;
   DROP TABLE usage_records;
   ALTER TABLE usage_records_by_time RENAME TO usage_records;`,
  // 3: record flags (RECORD_FLAGS), comma-separated; NULL when none.
  `ALTER TABLE usage_records ADD COLUMN flags TEXT;`,
  // 4: managed subscription keys (src/auth/sqlite-key-store.ts). Times are epoch milliseconds.
  // A key holds no secret, only the SHA-256 digests of its live secrets (one, or two during a
  // rotation's grace: the old one with retires_at set). managed_key_changes is one counter row
  // that every change bumps in its own transaction: gateways poll it, not the tables. No index
  // beyond the primary keys: these tables hold one row per key and are read whole.
  `CREATE TABLE managed_subscriptions (
     id TEXT PRIMARY KEY,
     product TEXT NOT NULL,
     owner TEXT,
     cost_center TEXT,
     metadata TEXT NOT NULL DEFAULT '{}',
     created_at INTEGER NOT NULL
   );
   CREATE TABLE managed_keys (
     id TEXT PRIMARY KEY,
     subscription TEXT NOT NULL,
     product TEXT NOT NULL,
     owner TEXT,
     created_at INTEGER NOT NULL,
     expires_at INTEGER,
     revoked_at INTEGER
   );
   CREATE TABLE managed_key_secrets (
     digest BLOB PRIMARY KEY CHECK (length(digest) = 32),
     key_id TEXT NOT NULL REFERENCES managed_keys (id),
     created_at INTEGER NOT NULL,
     retires_at INTEGER
   );
   CREATE TABLE managed_key_changes (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     counter INTEGER NOT NULL
   );
   INSERT INTO managed_key_changes (id, counter) VALUES (1, 0);`,
  // 5: budget alerts (src/budgets/). One row per alert and channel: the primary key makes an
  // alert at most once per month across gateways. `claim` is held while a gateway delivers
  // (claimed_at starts its lease, so a gateway killed mid-delivery does not block it forever);
  // `sent_at` is set only once delivered: a failed delivery releases the claim and is retried.
  `CREATE TABLE budget_alerts (
     subscription TEXT NOT NULL,
     month TEXT NOT NULL,
     unit TEXT NOT NULL CHECK (unit IN ('tokens', 'cost')),
     threshold REAL NOT NULL,
     channel TEXT NOT NULL CHECK (channel IN ('webhook', 'email')),
     claim TEXT,
     claimed_at INTEGER NOT NULL,
     sent_at INTEGER,
     PRIMARY KEY (subscription, month, unit, threshold, channel)
   ) WITHOUT ROWID;`,
  // 6: chargeback report deliveries (src/reports/report-delivery.ts). One row per month,
  // channel and recipient (a subscription id for the e-mail to its owner, '' for the webhook
  // POST of every row): the key makes a month's report go out once per recipient across
  // gateways and `report --send` runs. Claims work as in budget_alerts (5); a delivered row
  // drops its claim so that `--force` can take it over at once.
  `CREATE TABLE report_deliveries (
     month TEXT NOT NULL,
     channel TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
     recipient TEXT NOT NULL,
     claim TEXT,
     claimed_at INTEGER NOT NULL,
     sent_at INTEGER,
     PRIMARY KEY (month, channel, recipient)
   ) WITHOUT ROWID;`,
  // 7: rollups per UTC hour and day, kept from in-memory sums flushed about once a second,
  // with durable marks of the hours not yet flushed (rollup-schema.ts, rollup-store.ts); a
  // ledger with older records builds them on open.
  ROLLUP_MIGRATION,
  // 8: the cost a provider reported itself (OpenRouter's usage.cost), beside the catalog cost;
  // NULL when it reported none.
  `ALTER TABLE usage_records ADD COLUMN provider_cost REAL;`,
  // 9: how the counts divide by modality (TokenDetails), as JSON; NULL when not reported.
  `ALTER TABLE usage_records ADD COLUMN token_details TEXT;`,
];

/**
 * Brings an open ledger database to the current schema (MIGRATIONS), or throws TM_CONFIG_INVALID
 * when it was written by a newer tokenmeter. Every connection that opens a ledger file runs it
 * first (the ledger, the managed key store), so whichever opens a new file creates every table.
 */
export function migrateLedgerSchema(db: Database.Database): void {
  // IMMEDIATE takes the write lock before reading the version, so two processes opening a new
  // file at once cannot both run the same migration.
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new TokenmeterError(
        'TM_CONFIG_INVALID',
        `ledger ${db.name} has schema version ${version}, newer than this tokenmeter knows (${MIGRATIONS.length}); upgrade tokenmeter`,
      );
    }
    MIGRATIONS.slice(version).forEach((sql, i) => db.exec(sql).pragma(`user_version = ${version + i + 1}`));
  }).immediate();
}
