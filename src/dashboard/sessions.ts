import { randomBytes } from 'node:crypto';
import { createLruMap } from '../lru-map.js';

/** The session cookie's name. */
export const SESSION_COOKIE = 'tm_session';

/** How long a session lasts from sign-in, ms (not sliding: a stolen cookie dies on schedule). */
export const SESSION_TTL_MS = 8 * 60 * 60_000;

/** Sessions held at most; past it the least recently used is signed out. */
export const MAX_SESSIONS = 10_000;

/** One signed-in browser: the key it signed in with, re-checked on every request. */
export interface Session {
  /** The admin key or subscription key; kept in memory only, never logged or sent back. */
  key: string;
  /** Epoch ms at which the session ends. */
  expiresAt: number;
}

/**
 * Dashboard sessions, in memory: a gateway restart signs everyone out. Ids are 32 random bytes
 * (base64url), unguessable; the map is bounded (LRU), so a flood of sign-ins costs memory once.
 */
export interface SessionStore {
  /** Starts a session for `key`; returns its id (the cookie value). */
  create(key: string): string;
  /** The live session of an id, else undefined (unknown, ended, or expired: then removed). */
  get(id: string): Session | undefined;
  delete(id: string): void;
  readonly size: number;
}

export function createSessionStore(
  options: { now?: () => number; ttlMs?: number; max?: number } = {},
): SessionStore {
  const now = options.now ?? Date.now;
  const ttl = options.ttlMs ?? SESSION_TTL_MS;
  const sessions = createLruMap<Session>(options.max ?? MAX_SESSIONS);
  return {
    get size() {
      return sessions.size;
    },
    create(key) {
      const id = randomBytes(32).toString('base64url');
      sessions.set(id, { key, expiresAt: now() + ttl });
      return id;
    },
    get(id) {
      const session = sessions.get(id);
      if (session === undefined) return undefined;
      if (now() >= session.expiresAt) {
        sessions.delete(id);
        return undefined;
      }
      return session;
    },
    delete(id) {
      sessions.delete(id);
    },
  };
}

/** The value of the session cookie in a Cookie header, if any. */
export function readSessionCookie(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === SESSION_COOKIE) {
      const value = part.slice(eq + 1).trim();
      return value === '' ? undefined : value;
    }
  }
  return undefined;
}
