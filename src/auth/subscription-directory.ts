import { hash, timingSafeEqual } from 'node:crypto';
import type { Config, SubscriptionConfig } from '../config/schema.js';
import { TokenmeterError } from '../errors.js';
import type { Caller, SubscriptionInfo } from './caller.js';

/**
 * Looks subscriptions up by key. Keys are indexed by their SHA-256 digest: a lookup is one map
 * access, and whatever its timing reveals is about digests, never about the key itself.
 */
export interface SubscriptionDirectory {
  /** Throws TM_UNAUTHORIZED (unknown, revoked or missing key) or TM_FORBIDDEN (API not in product). */
  authenticate(key: string | undefined, apiId: string): Caller;
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

export function createSubscriptionDirectory(config: Config): SubscriptionDirectory {
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
      if (key === undefined) {
        throw new TokenmeterError(
          'TM_UNAUTHORIZED',
          'Missing subscription key. Send it in the api-key, Authorization: Bearer, x-api-key or Ocp-Apim-Subscription-Key header.',
        );
      }
      const digest = keyDigest(key);
      const entry = byDigest.get(digest.toString('hex'));
      // The map finds the entry by digest; the digests are compared again in constant time.
      if (entry === undefined || !timingSafeEqual(entry.digest, digest) || entry.subscription.revoked) {
        throw new TokenmeterError('TM_UNAUTHORIZED', 'Access denied: invalid or revoked subscription key.');
      }
      const { subscription } = entry;
      if (apisByProduct.get(subscription.product)?.has(apiId) !== true) {
        throw new TokenmeterError(
          'TM_FORBIDDEN',
          `Subscription "${subscription.id}" has no access to API "${apiId}".`,
        );
      }
      return { subscription: entry.info, credential: CONFIG_KEY };
    },
  };
}
