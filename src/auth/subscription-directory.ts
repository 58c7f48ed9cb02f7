import { hash, timingSafeEqual } from 'node:crypto';
import type { Config, SubscriptionConfig } from '../config/schema.js';
import { TokenmeterError } from '../errors.js';
import type { Caller, SubscriptionInfo } from './caller.js';
import type { ManagedKeyLookup } from './managed-keys.js';

/**
 * Looks subscriptions up by key. Keys are indexed by their SHA-256 digest: a lookup is one map
 * access, and whatever its timing reveals is about digests, never about the key itself.
 */
export interface SubscriptionDirectory {
  /** Throws TM_UNAUTHORIZED (unknown, revoked or missing key) or TM_FORBIDDEN (API not in product). */
  authenticate(key: string | undefined, apiId: string): Caller;
  /**
   * The subscription a key belongs to, whatever API it may call (the dashboard's sign-in and its
   * sessions, which re-check the key on every request). Throws TM_UNAUTHORIZED as `authenticate`.
   */
  identify(key: string | undefined): SubscriptionInfo;
}

/** The SHA-256 digest of a key: what is indexed and compared, never the key. */
export function keyDigest(key: string): Buffer {
  return hash('sha256', key, 'buffer');
}

/** A YAML subscription as the gateway uses it. */
export function subscriptionInfo(subscription: SubscriptionConfig): SubscriptionInfo {
  return {
    id: subscription.id,
    product: subscription.product,
    owner: subscription.owner,
    costCenter: subscription.costCenter,
    metadata: subscription.metadata,
  };
}

const CONFIG_KEY = Object.freeze({ kind: 'config-key' as const });

const DENIED = 'Access denied: invalid or revoked subscription key.';

/** Where managed keys come from, and the clock their expiry is checked against. */
export interface SubscriptionDirectoryOptions {
  /** The managed keys (managed-keys.ts); none when absent. */
  managedKeys?: ManagedKeyLookup;
  now?: () => number;
}

/**
 * Keys of the YAML file and managed keys in one lookup. A managed key is found only when the
 * YAML keys do not know the digest (managed keys are 32 random bytes: they cannot equal a YAML
 * key or the admin key by chance). Its expiry and a rotated-out secret's grace end are checked
 * against the clock on each call, so they take effect at the millisecond, without a reload.
 */
export function createSubscriptionDirectory(
  config: Config,
  options: SubscriptionDirectoryOptions = {},
): SubscriptionDirectory {
  const { managedKeys } = options;
  const now = options.now ?? Date.now;
  const byDigest = new Map<
    string,
    { digest: Buffer; subscription: SubscriptionConfig; info: SubscriptionInfo }
  >();
  for (const subscription of config.subscriptions) {
    const digest = keyDigest(subscription.key);
    byDigest.set(digest.toString('hex'), { digest, subscription, info: subscriptionInfo(subscription) });
  }
  const apisByProduct = new Map(config.products.map((p) => [p.id, new Set(p.apis)]));

  return {
    authenticate(key, apiId) {
      const caller = find(key);
      checkAccess(caller.subscription, apiId);
      return caller;
    },
    identify: (key) => find(key).subscription,
  };

  function find(key: string | undefined): Caller {
    if (key === undefined) {
      throw new TokenmeterError(
        'TM_UNAUTHORIZED',
        'Missing subscription key. Send it in the api-key, Authorization: Bearer, x-api-key or Ocp-Apim-Subscription-Key header.',
      );
    }
    const digest = keyDigest(key);
    const hex = digest.toString('hex');
    const entry = byDigest.get(hex);
    if (entry === undefined) return findManaged(hex, digest);
    // The map finds the entry by digest; the digests are compared again in constant time.
    if (!timingSafeEqual(entry.digest, digest) || entry.subscription.revoked) {
      throw new TokenmeterError('TM_UNAUTHORIZED', DENIED);
    }
    return { subscription: entry.info, credential: CONFIG_KEY };
  }

  function findManaged(hex: string, digest: Buffer): Caller {
    const entry = managedKeys?.find(hex);
    if (entry === undefined || !timingSafeEqual(entry.digest, digest))
      throw new TokenmeterError('TM_UNAUTHORIZED', DENIED);
    // Infinity for keys without an expiry and current secrets: the clock is read only when needed.
    if (entry.expiresAt !== Infinity || entry.retiresAt !== Infinity) {
      const at = now();
      if (at >= entry.expiresAt)
        throw new TokenmeterError('TM_UNAUTHORIZED', 'Access denied: the subscription key has expired.');
      if (at >= entry.retiresAt) throw new TokenmeterError('TM_UNAUTHORIZED', DENIED);
    }
    return { subscription: entry.subscription, credential: entry.credential };
  }

  function checkAccess(subscription: SubscriptionInfo, apiId: string): void {
    if (apisByProduct.get(subscription.product)?.has(apiId) !== true) {
      throw new TokenmeterError(
        'TM_FORBIDDEN',
        `Subscription "${subscription.id}" has no access to API "${apiId}".`,
      );
    }
  }
}
