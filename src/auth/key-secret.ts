import { randomBytes } from 'node:crypto';
import { keyDigest } from './subscription-directory.js';

/** What every managed key starts with, so secret scanners and people recognise one. */
export const MANAGED_KEY_PREFIX = 'tmk_';

/** A freshly generated managed key: the text, shown once, and the digest that is stored. */
export interface GeneratedKey {
  key: string;
  digest: Buffer;
}

/**
 * Generates a managed key: `tmk_` and 32 random bytes in base64url (47 characters).
 *
 * Only its SHA-256 digest is stored. A fast, unsalted hash is enough here, unlike for passwords:
 * the key has 256 bits of entropy, so there is nothing to guess from a digest, and a stretched
 * hash would cost the gateway time on every call. It is also the digest the gateway already
 * computes for YAML keys, so one digest per call serves both.
 */
export function generateManagedKey(): GeneratedKey {
  const key = `${MANAGED_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { key, digest: keyDigest(key) };
}

/** A new key id: `key_` and 16 hex digits. Not a secret; it names the key in lists and traces. */
export function generateKeyId(): string {
  return `key_${randomBytes(8).toString('hex')}`;
}
