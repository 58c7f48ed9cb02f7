import { hash } from 'node:crypto';
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
  const entries = new Map<string, VerifiedTokenEntry>();
  const digest = (token: string): string => hash('sha256', token, 'base64');
  return {
    get(token) {
      if (maxEntries === 0) return undefined;
      const key = digest(token);
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      // Map keeps insertion order: re-inserting makes this the most recently used entry.
      entries.delete(key);
      entries.set(key, entry);
      return entry;
    },
    set(token, entry) {
      if (maxEntries === 0) return;
      const key = digest(token);
      entries.delete(key);
      entries.set(key, entry);
      if (entries.size > maxEntries) {
        const oldest = entries.keys().next();
        if (oldest.done !== true) entries.delete(oldest.value);
      }
    },
    delete(token) {
      entries.delete(digest(token));
    },
    get size() {
      return entries.size;
    },
  };
}
