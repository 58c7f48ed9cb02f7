import {
  createLocalJWKSet,
  type CryptoKey,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
  type LocalJWKSet,
} from 'jose';
import { TokenmeterError } from '../errors.js';

/** How often the JWKS of an identity provider is fetched; the defaults suit Entra ID. */
export interface JwksTiming {
  /** Keys older than this are refetched in the background; calls keep using them meanwhile. */
  maxAgeMs: number;
  /** At most one refetch per this interval is caused by tokens naming an unknown `kid`. */
  refetchIntervalMs: number;
  /** After a failed fetch, no new attempt before this interval has passed. */
  retryIntervalMs: number;
  /** A fetch that has not answered by then has failed. */
  timeoutMs: number;
}

export const DEFAULT_JWKS_TIMING: Readonly<JwksTiming> = {
  maxAgeMs: 10 * 60_000,
  refetchIntervalMs: 30_000,
  retryIntervalMs: 5_000,
  timeoutMs: 5_000,
};

export interface JwksCacheOptions extends Partial<JwksTiming> {
  url: string;
  /** The clock (epoch ms); tests move it instead of sleeping. */
  now?: () => number;
  /** Told of every failed fetch (at most one per retry interval). */
  onFetchError?: (err: unknown) => void;
}

/** The signing keys of one identity provider, fetched from its JWKS URL and kept in memory. */
export interface JwksCache {
  /**
   * jose's key resolver: the key the token's header (`kid`, `alg`) names. Throws jose's
   * JWKSNoMatchingKey when no key matches even after the rate-limited refetch, and
   * TM_AUTH_UNAVAILABLE when no keys could be fetched at all.
   */
  readonly getKey: (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;
  /** Aborts a fetch in flight; the cache is unusable afterwards. */
  close(): void;
}

/**
 * Creates the cache and starts its first fetch in the background, so a gateway starts even
 * when the identity provider is unreachable (calls then get TM_AUTH_UNAVAILABLE until a fetch
 * succeeds). Concurrent calls share one fetch in flight. Stale keys are served while a refresh
 * runs or fails: an identity provider outage does not lock out tokens it signed before.
 */
export function createJwksCache(options: JwksCacheOptions): JwksCache {
  const timing: JwksTiming = {
    maxAgeMs: options.maxAgeMs ?? DEFAULT_JWKS_TIMING.maxAgeMs,
    refetchIntervalMs: options.refetchIntervalMs ?? DEFAULT_JWKS_TIMING.refetchIntervalMs,
    retryIntervalMs: options.retryIntervalMs ?? DEFAULT_JWKS_TIMING.retryIntervalMs,
    timeoutMs: options.timeoutMs ?? DEFAULT_JWKS_TIMING.timeoutMs,
  };
  const now = options.now ?? Date.now;
  const closing = new AbortController();
  let keys: LocalJWKSet | undefined;
  let fetchedAt = -Infinity;
  let failedAt = -Infinity;
  let kidRefetchAt = -Infinity;
  let pending: Promise<void> | undefined;

  const recentlyFailed = (): boolean => now() - failedAt < timing.retryIntervalMs;

  const refresh = (): Promise<void> => {
    pending ??= (async () => {
      try {
        keys = createLocalJWKSet(await fetchJwks(options.url, closing.signal, timing.timeoutMs));
        fetchedAt = now();
        failedAt = -Infinity;
      } catch (err) {
        failedAt = now();
        if (!closing.signal.aborted) options.onFetchError?.(err);
        throw unavailable(err);
      } finally {
        pending = undefined;
      }
    })();
    return pending;
  };
  const refreshInBackground = (): void => {
    // Failures are reported by refresh itself; nobody waits on this one.
    refresh().catch(() => undefined);
  };

  refreshInBackground();

  return {
    getKey: async (header, token) => {
      if (keys === undefined) {
        if (pending === undefined && recentlyFailed()) throw unavailable();
        await refresh();
      } else if (pending === undefined && now() - fetchedAt >= timing.maxAgeMs && !recentlyFailed()) {
        refreshInBackground();
      }
      const current = keys;
      if (current === undefined) throw unavailable();
      try {
        return await current(header, token);
      } catch (err) {
        if (!isNoMatchingKey(err)) throw err;
        // A key the cache does not know yet: the identity provider may have rotated its keys.
        // Wait for a fetch already in flight, else start one unless one ran for this reason lately.
        if (pending !== undefined) await pending;
        else if (now() - kidRefetchAt >= timing.refetchIntervalMs) {
          kidRefetchAt = now();
          await refresh();
        } else throw err;
        if (keys === current) throw err;
        return (keys ?? current)(header, token);
      }
    },
    close() {
      closing.abort();
    },
  };
}

function isNoMatchingKey(err: unknown): boolean {
  return (
    typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ERR_JWKS_NO_MATCHING_KEY'
  );
}

function unavailable(cause?: unknown): TokenmeterError {
  return new TokenmeterError(
    'TM_AUTH_UNAVAILABLE',
    "The identity provider's signing keys (JWKS) cannot be fetched, so the JWT cannot be checked. Retry later.",
    { cause },
  );
}

/** One GET of the JWKS document; any answer but 200 with JSON is a failure. */
async function fetchJwks(url: string, closing: AbortSignal, timeoutMs: number): Promise<JSONWebKeySet> {
  const response = await fetch(url, {
    headers: { accept: 'application/jwk-set+json, application/json' },
    redirect: 'follow',
    signal: AbortSignal.any([closing, AbortSignal.timeout(timeoutMs)]),
  });
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new Error(`JWKS answered HTTP ${response.status}`);
  }
  const body: unknown = await response.json();
  if (!isKeySet(body)) throw new Error('JWKS answer is not a JSON object with a "keys" array');
  return body;
}

/** The outer shape only; createLocalJWKSet checks each key and skips what it cannot use. */
function isKeySet(value: unknown): value is JSONWebKeySet {
  return typeof value === 'object' && value !== null && Array.isArray((value as { keys?: unknown }).keys);
}
