import { hash } from 'node:crypto';
import type { Config, SubscriptionConfig } from '../config/schema.js';
import { TokenmeterError } from '../errors.js';

/** The authenticated caller of one request. */
export interface Caller {
  subscription: SubscriptionConfig;
}

/**
 * Looks subscriptions up by key. Keys are indexed by their SHA-256 digest: a lookup is one map
 * access, and whatever its timing reveals is about digests, never about the key itself.
 */
export interface SubscriptionDirectory {
  /** Throws TM_UNAUTHORIZED (unknown, revoked or missing key) or TM_FORBIDDEN (API not in product). */
  authenticate(key: string | undefined, apiId: string): Caller;
}

function digest(key: string): string {
  return hash('sha256', key, 'hex');
}

export function createSubscriptionDirectory(config: Config): SubscriptionDirectory {
  const byDigest = new Map<string, SubscriptionConfig>();
  for (const subscription of config.subscriptions) byDigest.set(digest(subscription.key), subscription);
  const apisByProduct = new Map(config.products.map((p) => [p.id, new Set(p.apis)]));

  return {
    authenticate(key, apiId) {
      if (key === undefined) {
        throw new TokenmeterError(
          'TM_UNAUTHORIZED',
          'Missing subscription key. Send it in the api-key, Authorization: Bearer, x-api-key or Ocp-Apim-Subscription-Key header.',
        );
      }
      const subscription = byDigest.get(digest(key));
      if (subscription === undefined || subscription.revoked) {
        throw new TokenmeterError('TM_UNAUTHORIZED', 'Access denied: invalid or revoked subscription key.');
      }
      if (apisByProduct.get(subscription.product)?.has(apiId) !== true) {
        throw new TokenmeterError(
          'TM_FORBIDDEN',
          `Subscription "${subscription.id}" has no access to API "${apiId}".`,
        );
      }
      return { subscription };
    },
  };
}
