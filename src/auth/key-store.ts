/**
 * Where managed subscription keys live (`tokenmeter keys`): the ledger database. One interface
 * for every ledger backend (SQLite now, PostgreSQL with issue #11), async so that a networked
 * store fits; the SQLite one does its work synchronously inside the promises.
 *
 * A store never sees a key: it keeps the SHA-256 digest of each live secret (key-secret.ts).
 * Every change bumps one change counter in the same transaction, so a gateway polls one number
 * and reloads only when it moved.
 */

/** A subscription created by `keys create` (one that the YAML file does not define). */
export interface ManagedSubscription {
  id: string;
  product: string;
  owner?: string | undefined;
  costCenter?: string | undefined;
  /** `subscription.metadata` in expressions (`keys create --meta k=v`); keys are identifiers. */
  metadata: Readonly<Record<string, string>>;
  /** Epoch milliseconds. */
  createdAt: number;
}

/** A managed key, without any secret. Times are epoch milliseconds. */
export interface ManagedKey {
  /** The key id (`key_…`): what `keys list`, `revoke`, `rotate` and the trace name; never secret. */
  id: string;
  /** A managed subscription's id, or a YAML subscription's id the key joined. */
  subscription: string;
  product: string;
  owner?: string | undefined;
  createdAt: number;
  /** Undefined: never expires. */
  expiresAt?: number | undefined;
  revokedAt?: number | undefined;
}

/** The digest of one live secret of a key. */
export interface ManagedKeySecret {
  keyId: string;
  /** SHA-256 of the key text (32 bytes). */
  digest: Buffer;
  /** When a rotated-out secret stops working (its grace end); undefined for the current one. */
  retiresAt?: number | undefined;
}

/** What a gateway loads: everything usable at `asOf`, read in one consistent transaction. */
export interface KeyStoreSnapshot {
  /** The change counter this snapshot reflects. */
  changes: number;
  subscriptions: ManagedSubscription[];
  /** Keys neither revoked nor expired at `asOf`. */
  keys: ManagedKey[];
  /** The secrets of those keys not retired at `asOf`. */
  secrets: ManagedKeySecret[];
}

/** A new key: its record, the digest of its secret, and the subscription to create with it. */
export interface NewManagedKey {
  key: ManagedKey;
  digest: Buffer;
  /**
   * Created in the same transaction when no managed subscription has this id; when one does,
   * its product must equal the key's. Undefined when the key joins a YAML subscription.
   */
  subscription?: ManagedSubscription | undefined;
}

export interface KeyStore {
  /** The change counter: it moves on every create, revoke and rotation. */
  changes(): Promise<number>;
  /** Everything usable at `asOf` (epoch ms): live keys, their live secrets, managed subscriptions. */
  snapshot(asOf: number): Promise<KeyStoreSnapshot>;
  /** The managed subscription with this id, if any. */
  subscription(id: string): Promise<ManagedSubscription | undefined>;
  /** Every key ever created, revoked and expired ones included, oldest first. */
  listKeys(): Promise<ManagedKey[]>;
  /**
   * Stores a new key (and its subscription). Rejects with TM_BAD_REQUEST when the subscription
   * exists with another product.
   */
  createKey(input: NewManagedKey): Promise<ManagedKey>;
  /**
   * Revokes a key at `at` and forgets its secrets. Rejects with TM_NOT_FOUND (no such key) or
   * TM_BAD_REQUEST (already revoked).
   */
  revokeKey(id: string, at: number): Promise<ManagedKey>;
  /**
   * Gives a key a new current secret (`digest`) at `at`; the secrets it had stop working at
   * `graceEndsAt` (or earlier, if an earlier rotation said so). Rejects with TM_NOT_FOUND, or
   * TM_BAD_REQUEST for a revoked or expired key.
   */
  rotateKey(id: string, digest: Buffer, at: number, graceEndsAt: number): Promise<ManagedKey>;
  /** Releases the connection. */
  close(): Promise<void>;
}
