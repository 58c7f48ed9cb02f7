import type { ManagedKey, ManagedKeySecret, ManagedSubscription } from './key-store.js';

/**
 * Rows of the managed key tables as both key stores read them (SQLite and PostgreSQL share
 * the table and column names: ledger-schema.ts, postgres/pg-schema-shared-state.ts).
 */
export type KeyStoreRow = Record<string, unknown>;

const optionalString = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : undefined;
const optionalNumber = (value: unknown): number | undefined =>
  typeof value === 'number' ? value : undefined;

/**
 * The metadata column: a JSON object of strings (SQLite keeps its text, PostgreSQL's jsonb
 * arrives parsed); anything else in it is dropped, not trusted.
 */
function parseMetadata(value: unknown): Record<string, string> {
  const parsed: unknown = typeof value === 'string' ? JSON.parse(value) : (value ?? {});
  const metadata: Record<string, string> = {};
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return metadata;
  for (const [key, entry] of Object.entries(parsed)) if (typeof entry === 'string') metadata[key] = entry;
  return metadata;
}

export function toSubscription(row: KeyStoreRow): ManagedSubscription {
  return {
    id: String(row['id']),
    product: String(row['product']),
    owner: optionalString(row['owner']),
    costCenter: optionalString(row['cost_center']),
    metadata: parseMetadata(row['metadata']),
    createdAt: Number(row['created_at']),
  };
}

export function toKey(row: KeyStoreRow): ManagedKey {
  return {
    id: String(row['id']),
    subscription: String(row['subscription']),
    product: String(row['product']),
    owner: optionalString(row['owner']),
    createdAt: Number(row['created_at']),
    expiresAt: optionalNumber(row['expires_at']),
    revokedAt: optionalNumber(row['revoked_at']),
  };
}

export function toSecret(row: KeyStoreRow): ManagedKeySecret {
  const digest = row['digest'];
  return {
    keyId: String(row['key_id']),
    // better-sqlite3 gives a Buffer, the postgres driver a Buffer or a Uint8Array for bytea.
    digest: Buffer.isBuffer(digest) ? digest : Buffer.from(digest as Uint8Array),
    retiresAt: optionalNumber(row['retires_at']),
  };
}
