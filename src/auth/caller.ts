/**
 * Who made a call, as authentication established it: the subscription (from a key in the YAML
 * file or a managed key in the ledger database), how the key was known, and the verified JWT
 * when the API asks for one. Every later stage (dimensions, trace) reads the caller from here.
 */

/** A subscription as the gateway uses it, wherever it was defined. */
export interface SubscriptionInfo {
  /** The Subscription ID dimension. */
  id: string;
  /** The Product ID dimension. */
  product: string;
  owner?: string | undefined;
  costCenter?: string | undefined;
  /** A free map (`subscription.metadata` in expressions); empty when none. */
  metadata: Readonly<Record<string, string>>;
}

/** How the subscription key was recognised. */
export type CallerCredential =
  /** A `subscriptions[].key` of the YAML file. */
  | { kind: 'config-key' }
  /** A managed key (`tokenmeter keys create`), by its id (never the key). */
  | { kind: 'managed-key'; keyId: string };

/** A JWT that passed every check of the API's `auth.jwt`. */
export interface VerifiedJwt {
  /** Every claim of the token's payload (`jwt.claims` in expressions). */
  claims: Readonly<Record<string, unknown>>;
  /** The `kid` of the key that verified the signature, when the token named one. */
  keyId?: string | undefined;
  /** The API's `userClaim` and that claim's value as a string, when configured and present. */
  userClaim?: string | undefined;
  user?: string | undefined;
}

/** The authenticated caller of one request. */
export interface Caller {
  subscription: SubscriptionInfo;
  credential: CallerCredential;
  /** Present when the API's `auth.jwt` verified a token. */
  jwt?: VerifiedJwt | undefined;
}
