import type postgres from 'postgres';
import { TokenmeterError } from '../errors.js';
import { connectPostgres, type PgSql } from '../ledger/postgres/pg-connect.js';
import { describePgServer, withPgErrors } from '../ledger/postgres/pg-errors.js';
import { migratePostgres } from '../ledger/postgres/pg-migrations.js';
import type { KeyStore, KeyStoreSnapshot, ManagedKey, ManagedSubscription } from './key-store.js';
import { toKey, toSecret, toSubscription, type KeyStoreRow } from './key-store-rows.js';

/** Connection settings of a PostgreSQL key store. */
export interface PostgresKeyStoreOptions {
  /**
   * Seconds a query waits for a connection to the server before it fails (default 5, the
   * driver's connect timeout). A gateway's poll of an unreachable server fails after this long,
   * off the event loop, and the next poll tries again.
   */
  connectTimeoutSec?: number;
}

type Row = KeyStoreRow;

type Tx = postgres.TransactionSql;

/** A connection the server ended (restart, failover, idle kill) or the driver found closed. */
function isStaleConnection(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '57P01' || code === 'CONNECTION_CLOSED' || code === 'ECONNRESET';
}

async function bump(tx: Tx): Promise<void> {
  await tx`UPDATE managed_key_changes SET counter = counter + 1 WHERE id = 1`;
}

/**
 * The key, locked until the transaction ends (a concurrent revoke or rotate of it waits, then
 * sees this one's outcome); TM_NOT_FOUND or, when revoked, TM_BAD_REQUEST.
 */
async function lockLiveKey(tx: Tx, id: string): Promise<ManagedKey> {
  const [row] = await tx<Row[]>`SELECT * FROM managed_keys WHERE id = ${id} FOR UPDATE`;
  if (row === undefined) throw new TokenmeterError('TM_NOT_FOUND', `no managed key has the id "${id}"`);
  const key = toKey(row);
  if (key.revokedAt !== undefined)
    throw new TokenmeterError(
      'TM_BAD_REQUEST',
      `key "${id}" was already revoked at ${new Date(key.revokedAt).toISOString()}`,
    );
  return key;
}

/**
 * The managed key store of a PostgreSQL ledger (schema migration 2), shared by every gateway
 * and `tokenmeter keys` run on it, with the SQLite store's semantics (sqlite-key-store.ts).
 * Opening connects to nothing: the first call connects and migrates the schema (migratePostgres),
 * and a failed attempt is retried by the next call. Connection failures reject with
 * TM_LEDGER_UNAVAILABLE, bad credentials or database with TM_CONFIG_INVALID (pg-errors.ts).
 *
 * Changes run in READ COMMITTED transactions whose conflicting steps wait on row locks: a new
 * subscription's primary key (`ON CONFLICT DO NOTHING`, then read back), the key's row
 * (`FOR UPDATE`), and last the change counter's row, so that two `keys` commands on different
 * machines serialise where SQLite's write lock serialises them, and never deadlock.
 */
export function createPostgresKeyStore(url: string, options: PostgresKeyStoreOptions = {}): KeyStore {
  const sql = connectPostgres(url, {
    max: 2,
    ...(options.connectTimeoutSec !== undefined ? { connectTimeoutSec: options.connectTimeoutSec } : {}),
  });
  const server = describePgServer(url);
  let migrated: Promise<void> | undefined;

  /** Migrates once per store; a failure (server down) is forgotten so the next call retries. */
  function ready(): Promise<void> {
    migrated ??= migratePostgres(sql).then(
      () => undefined,
      (err: unknown) => {
        migrated = undefined;
        throw err;
      },
    );
    return migrated;
  }

  function run<T>(work: () => Promise<T>): Promise<T> {
    return withPgErrors(server, async () => {
      await ready();
      return work();
    });
  }

  /**
   * As run, for reads: a pool connection that died while idle (the server restarted) fails its
   * next query once; a read is retried on a fresh connection, so the first poll after an outage
   * already succeeds. Writes are not retried: a lost connection may have committed them.
   */
  function read<T>(work: () => Promise<T>): Promise<T> {
    return withPgErrors(server, async () => {
      await ready();
      try {
        return await work();
      } catch (err) {
        if (!isStaleConnection(err)) throw err;
        return work();
      }
    });
  }

  async function readChanges(query: PgSql | Tx): Promise<number> {
    const [row] = await (query as Tx)<
      { counter: number }[]
    >`SELECT counter FROM managed_key_changes WHERE id = 1`;
    return row?.counter ?? 0;
  }

  // One repeatable-read transaction: the counter and the rows it stands for, seen at one moment.
  const snapshot = (asOf: number): Promise<KeyStoreSnapshot> =>
    sql.begin('isolation level repeatable read read only', async (tx) => ({
      changes: await readChanges(tx),
      subscriptions: (await tx<Row[]>`SELECT * FROM managed_subscriptions ORDER BY created_at, id`).map(
        toSubscription,
      ),
      keys: (
        await tx<Row[]>`SELECT * FROM managed_keys
          WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ${asOf})
          ORDER BY created_at, id`
      ).map(toKey),
      secrets: (
        await tx<Row[]>`SELECT s.key_id, s.digest, s.retires_at FROM managed_key_secrets s
          JOIN managed_keys k ON k.id = s.key_id
          WHERE k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ${asOf})
            AND (s.retires_at IS NULL OR s.retires_at > ${asOf})`
      ).map(toSecret),
    }));

  const create = (key: ManagedKey, digest: Buffer, subscription?: ManagedSubscription): Promise<ManagedKey> =>
    sql.begin(async (tx) => {
      if (subscription !== undefined) {
        const s = subscription;
        // A concurrent create of the same new subscription waits here on its primary key until
        // the first commits, then inserts nothing and reads the committed row below.
        await tx`INSERT INTO managed_subscriptions (id, product, owner, cost_center, metadata, created_at)
          VALUES (${s.id}, ${s.product}, ${s.owner ?? null}, ${s.costCenter ?? null},
                  ${JSON.stringify(s.metadata)}::jsonb, ${s.createdAt})
          ON CONFLICT (id) DO NOTHING`;
        const [stored] = await tx<{ product: string }[]>`SELECT product FROM managed_subscriptions
          WHERE id = ${s.id}`;
        if (stored !== undefined && stored.product !== key.product)
          throw new TokenmeterError(
            'TM_BAD_REQUEST',
            `subscription "${s.id}" has product "${stored.product}", not "${key.product}"`,
          );
      }
      await tx`INSERT INTO managed_keys (id, subscription, product, owner, created_at, expires_at)
        VALUES (${key.id}, ${key.subscription}, ${key.product}, ${key.owner ?? null}, ${key.createdAt},
                ${key.expiresAt ?? null})`;
      await tx`INSERT INTO managed_key_secrets (digest, key_id, created_at, retires_at)
        VALUES (${digest}, ${key.id}, ${key.createdAt}, NULL)`;
      await bump(tx);
      return key;
    });

  const revoke = (id: string, at: number): Promise<ManagedKey> =>
    sql.begin(async (tx) => {
      const key = await lockLiveKey(tx, id);
      await tx`UPDATE managed_keys SET revoked_at = ${at} WHERE id = ${id}`;
      await tx`DELETE FROM managed_key_secrets WHERE key_id = ${id}`;
      await bump(tx);
      return { ...key, revokedAt: at };
    });

  const rotate = (id: string, digest: Buffer, at: number, graceEndsAt: number): Promise<ManagedKey> =>
    sql.begin(async (tx) => {
      const key = await lockLiveKey(tx, id);
      if (key.expiresAt !== undefined && key.expiresAt <= at)
        throw new TokenmeterError(
          'TM_BAD_REQUEST',
          `key "${id}" expired at ${new Date(key.expiresAt).toISOString()}; create a new key instead`,
        );
      await tx`DELETE FROM managed_key_secrets
        WHERE key_id = ${id} AND retires_at IS NOT NULL AND retires_at <= ${at}`;
      // Every secret the key has now ends at the grace end, or earlier if an earlier rotation said so.
      await tx`UPDATE managed_key_secrets SET retires_at = ${graceEndsAt}
        WHERE key_id = ${id} AND (retires_at IS NULL OR retires_at > ${graceEndsAt})`;
      await tx`INSERT INTO managed_key_secrets (digest, key_id, created_at, retires_at)
        VALUES (${digest}, ${id}, ${at}, NULL)`;
      await bump(tx);
      return key;
    });

  return {
    changes: () => read(() => readChanges(sql)),
    snapshot: (asOf) => read(() => snapshot(asOf)),
    subscription: (id) =>
      read(async () => {
        const [row] = await sql<Row[]>`SELECT * FROM managed_subscriptions WHERE id = ${id}`;
        return row === undefined ? undefined : toSubscription(row);
      }),
    listKeys: () =>
      read(async () => (await sql<Row[]>`SELECT * FROM managed_keys ORDER BY created_at, id`).map(toKey)),
    createKey: (input) => run(() => create(input.key, input.digest, input.subscription)),
    revokeKey: (id, at) => run(() => revoke(id, at)),
    rotateKey: (id, digest, at, graceEndsAt) => run(() => rotate(id, digest, at, graceEndsAt)),
    close: () => sql.end({ timeout: 5 }),
  };
}
