import { createLruMap } from '../lru-map.js';

/** Failed sign-ins (or wrong API keys) one client address may make per window. */
export const SIGN_IN_FAILURES_PER_WINDOW = 5;
/** The window, ms. */
export const SIGN_IN_WINDOW_MS = 60_000;
/** Client addresses tracked at most (least recently seen forgotten first). */
const MAX_TRACKED_CLIENTS = 10_000;

/**
 * Counts failed key checks per client address in fixed windows: after
 * SIGN_IN_FAILURES_PER_WINDOW failures, every key check from that address is refused until the
 * window ends, so guessing keys costs a minute per five tries. A success does not reset the
 * count. Memory is bounded (LRU); an address pushed out starts afresh, which only helps an
 * attacker holding more than MAX_TRACKED_CLIENTS addresses.
 */
export interface SignInLimiter {
  /** Seconds to wait when `client` is blocked now, else undefined. */
  blockedFor(client: string): number | undefined;
  /** Counts one failure of `client`. */
  fail(client: string): void;
}

export function createSignInLimiter(options: { now?: () => number } = {}): SignInLimiter {
  const now = options.now ?? Date.now;
  const failures = createLruMap<{ windowStart: number; count: number }>(MAX_TRACKED_CLIENTS);
  const current = (client: string): { windowStart: number; count: number } | undefined => {
    const entry = failures.get(client);
    if (entry === undefined || now() - entry.windowStart >= SIGN_IN_WINDOW_MS) return undefined;
    return entry;
  };
  return {
    blockedFor(client) {
      const entry = current(client);
      if (entry === undefined || entry.count < SIGN_IN_FAILURES_PER_WINDOW) return undefined;
      return Math.max(1, Math.ceil((entry.windowStart + SIGN_IN_WINDOW_MS - now()) / 1000));
    },
    fail(client) {
      const entry = current(client);
      if (entry === undefined) failures.set(client, { windowStart: now(), count: 1 });
      else entry.count += 1;
    },
  };
}
