import { timingSafeEqual, createHash } from 'node:crypto';
import type { Config, SubscriptionConfig } from '../config/schema.js';
import { TokenmeterError } from '../errors.js';

/** The authenticated caller of one request. */
export interface Caller {
  subscription: SubscriptionConfig;
}

/**
 * Looks subscriptions up by key. Keys are indexed by their SHA-256 so a lookup is one map access
 * and the comparison of the stored digest is constant-time.
 */
export interface SubscriptionDirectory {
  /** Throws TM_UNAUTHORIZED (unknown, revoked or missing key) or TM_FORBIDDEN (API not in product). */
  authenticate(key: string | undefined, apiId: string): Caller;
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

export function createSubscriptionDirectory(config: Config): SubscriptionDirectory {
  const byDigest = new Map<string, { digest: Buffer; subscription: SubscriptionConfig }>();
  for (const subscription of config.subscriptions) {
    const d = digest(subscription.key);
    byDigest.set(d.toString('hex'), { digest: d, subscription });
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
      const d = digest(key);
      const entry = byDigest.get(d.toString('hex'));
      if (entry === undefined || !timingSafeEqual(entry.digest, d) || entry.subscription.revoked) {
        throw new TokenmeterError('TM_UNAUTHORIZED', 'Access denied: invalid or revoked subscription key.');
      }
      if (apisByProduct.get(entry.subscription.product)?.has(apiId) !== true) {
        throw new TokenmeterError(
          'TM_FORBIDDEN',
          `Subscription "${entry.subscription.id}" has no access to API "${apiId}".`,
        );
      }
      return { subscription: entry.subscription };
    },
  };
}
