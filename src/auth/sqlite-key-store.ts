import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { TokenmeterError } from '../errors.js';
import { migrateLedgerSchema } from '../ledger/sqlite-ledger.js';
import type { KeyStore, KeyStoreSnapshot, ManagedKey, ManagedSubscription } from './key-store.js';
import { toKey, toSecret, toSubscription, type KeyStoreRow } from './key-store-rows.js';

/** Connection settings of an SQLite key store. */
export interface SqliteKeyStoreOptions {
  /**
   * How long a statement waits for a lock another connection holds, milliseconds, once the store
   * is open (opening and migrating wait up to 5 s). better-sqlite3 waits on the calling thread,
   * so a gateway's poller passes a short one: a busy ledger costs it one skipped poll, never a
   * stalled event loop. Default 5000 (the CLI).
   */
  busyTimeoutMs?: number;
  /** Open an existing file only (`keys list` must not create a ledger). */
  fileMustExist?: boolean;
}

type Row = KeyStoreRow;

/** Runs synchronous work and reports its outcome as a promise (throws become rejections). */
function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

const LIVE_KEY = 'revoked_at IS NULL AND (expires_at IS NULL OR expires_at > :asOf)';

/**
 * Opens the managed key store of the SQLite ledger at `path`, on a connection of its own
 * (creating the file and every ledger table when missing, unless `fileMustExist`).
 */
export function createSqliteKeyStore(path: string, options: SqliteKeyStoreOptions = {}): KeyStore {
  if (options.fileMustExist !== true) mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, { fileMustExist: options.fileMustExist === true });
  try {
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    migrateLedgerSchema(db);
    db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
  } catch (err) {
    db.close();
    throw err;
  }
  const readChanges = db.prepare<[], number>('SELECT counter FROM managed_key_changes WHERE id = 1').pluck();
  const bump = db.prepare('UPDATE managed_key_changes SET counter = counter + 1 WHERE id = 1');
  const selectSubscriptions = db.prepare<[], Row>('SELECT * FROM managed_subscriptions');
  const selectSubscription = db.prepare<[string], Row>('SELECT * FROM managed_subscriptions WHERE id = ?');
  const selectLiveKeys = db.prepare<{ asOf: number }, Row>(`SELECT * FROM managed_keys WHERE ${LIVE_KEY}`);
  const selectLiveSecrets = db.prepare<{ asOf: number }, Row>(
    `SELECT s.key_id, s.digest, s.retires_at FROM managed_key_secrets s
     JOIN managed_keys k ON k.id = s.key_id
     WHERE ${LIVE_KEY.replaceAll('revoked_at', 'k.revoked_at').replaceAll('expires_at', 'k.expires_at')}
       AND (s.retires_at IS NULL OR s.retires_at > :asOf)`,
  );
  const selectKeys = db.prepare<[], Row>('SELECT * FROM managed_keys ORDER BY created_at, id');
  const selectKey = db.prepare<[string], Row>('SELECT * FROM managed_keys WHERE id = ?');
  const insertSubscription = db.prepare(
    `INSERT INTO managed_subscriptions (id, product, owner, cost_center, metadata, created_at)
     VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
  );
  const insertKey = db.prepare(
    `INSERT INTO managed_keys (id, subscription, product, owner, created_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?)`,
  );
  const insertSecret = db.prepare(
    'INSERT INTO managed_key_secrets (digest, key_id, created_at, retires_at) VALUES (?, ?, ?, NULL)',
  );
  const markRevoked = db.prepare('UPDATE managed_keys SET revoked_at = ? WHERE id = ?');
  const forgetSecrets = db.prepare('DELETE FROM managed_key_secrets WHERE key_id = ?');
  const forgetRetired = db.prepare(
    'DELETE FROM managed_key_secrets WHERE key_id = ? AND retires_at IS NOT NULL AND retires_at <= ?',
  );
  // Every secret the key has now ends at the grace end, or earlier if an earlier rotation said so.
  const retireSecrets = db.prepare(
    `UPDATE managed_key_secrets SET retires_at = :graceEndsAt
     WHERE key_id = :id AND (retires_at IS NULL OR retires_at > :graceEndsAt)`,
  );

  // One read transaction: the counter and the rows it stands for are seen at the same moment.
  const snapshot = db.transaction((asOf: number): KeyStoreSnapshot => ({
    changes: readChanges.get() ?? 0,
    subscriptions: selectSubscriptions.all().map(toSubscription),
    keys: selectLiveKeys.all({ asOf }).map(toKey),
    secrets: selectLiveSecrets.all({ asOf }).map(toSecret),
  }));

  function existingKey(id: string): ManagedKey {
    const row = selectKey.get(id);
    if (row === undefined) throw new TokenmeterError('TM_NOT_FOUND', `no managed key has the id "${id}"`);
    const key = toKey(row);
    if (key.revokedAt !== undefined)
      throw new TokenmeterError(
        'TM_BAD_REQUEST',
        `key "${id}" was already revoked at ${new Date(key.revokedAt).toISOString()}`,
      );
    return key;
  }

  const create = db.transaction((key: ManagedKey, digest: Buffer, subscription?: ManagedSubscription) => {
    if (subscription !== undefined) {
      const s = subscription;
      insertSubscription.run(
        s.id,
        s.product,
        s.owner ?? null,
        s.costCenter ?? null,
        JSON.stringify(s.metadata),
        s.createdAt,
      );
      // Created here, or by a concurrent `keys create`: either way the products must agree.
      const stored = selectSubscription.get(s.id);
      if (stored !== undefined && stored['product'] !== key.product)
        throw new TokenmeterError(
          'TM_BAD_REQUEST',
          `subscription "${s.id}" has product "${String(stored['product'])}", not "${key.product}"`,
        );
    }
    insertKey.run(
      key.id,
      key.subscription,
      key.product,
      key.owner ?? null,
      key.createdAt,
      key.expiresAt ?? null,
    );
    insertSecret.run(digest, key.id, key.createdAt);
    bump.run();
    return key;
  });

  const revoke = db.transaction((id: string, at: number): ManagedKey => {
    const key = existingKey(id);
    markRevoked.run(at, id);
    forgetSecrets.run(id);
    bump.run();
    return { ...key, revokedAt: at };
  });

  const rotate = db.transaction((id: string, digest: Buffer, at: number, graceEndsAt: number) => {
    const key = existingKey(id);
    if (key.expiresAt !== undefined && key.expiresAt <= at)
      throw new TokenmeterError(
        'TM_BAD_REQUEST',
        `key "${id}" expired at ${new Date(key.expiresAt).toISOString()}; create a new key instead`,
      );
    forgetRetired.run(id, at);
    retireSecrets.run({ id, graceEndsAt });
    insertSecret.run(digest, id, at);
    bump.run();
    return key;
  });

  return {
    changes: () => settle(() => readChanges.get() ?? 0),
    snapshot: (asOf) => settle(() => snapshot.deferred(asOf)),
    subscription: (id) =>
      settle(() => {
        const row = selectSubscription.get(id);
        return row === undefined ? undefined : toSubscription(row);
      }),
    listKeys: () => settle(() => selectKeys.all().map(toKey)),
    // IMMEDIATE: the write lock is taken before the first read, so two CLIs cannot interleave.
    createKey: (input) => settle(() => create.immediate(input.key, input.digest, input.subscription)),
    revokeKey: (id, at) => settle(() => revoke.immediate(id, at)),
    rotateKey: (id, digest, at, graceEndsAt) => settle(() => rotate.immediate(id, digest, at, graceEndsAt)),
    close: () => settle(() => void db.close()),
  };
}
