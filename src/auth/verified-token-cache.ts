import { hash } from 'node:crypto';
import { createLruMap } from '../lru-map.js';
import type { VerifiedJwt } from './caller.js';

/** A token that passed every check once, with the times that can still make it fail. */
export interface VerifiedTokenEntry {
  jwt: VerifiedJwt;
  /** `exp`, epoch seconds (always present: the verifier requires it). */
  expiresAt: number;
  /** `nbf`, epoch seconds, when the token has one. */
  notBefore?: number | undefined;
}

/**
 * The tokens verified lately, so a client that sends the same token call after call pays the
 * signature check once. Bounded (least recently used entries go first) and keyed by the token's
 * SHA-256 digest: memory does not grow with token size, and no token is kept in memory. The
 * caller re-checks `exp` / `nbf` on every hit; only successes are kept.
 */
export interface VerifiedTokenCache {
  get(token: string): VerifiedTokenEntry | undefined;
  set(token: string, entry: VerifiedTokenEntry): void;
  delete(token: string): void;
  readonly size: number;
}

export function createVerifiedTokenCache(maxEntries: number): VerifiedTokenCache {
  const entries = createLruMap<VerifiedTokenEntry>(maxEntries);
  const digest = (token: string): string => hash('sha256', token, 'base64');
  return {
    // No digest to compute when nothing is kept.
    get: (token) => (maxEntries === 0 ? undefined : entries.get(digest(token))),
    set: (token, entry) => entries.set(digest(token), entry),
    delete: (token) => entries.delete(digest(token)),
    get size() {
      return entries.size;
    },
  };
}
