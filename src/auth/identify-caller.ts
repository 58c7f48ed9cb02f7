import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { ApiConfig, Config } from '../config/schema.js';
import type { Caller } from './caller.js';
import { readBearerToken, readSubscriptionKey } from './client-credentials.js';
import { createJwtVerifier, type JwtVerifier } from './jwt-verifier.js';
import type { SubscriptionDirectory } from './subscription-directory.js';

/** The "authenticate" stage (DESIGN.md): who is calling, or a 401 / 403 before anything else. */
export interface CallerIdentifier {
  /**
   * Identifies the caller of a call to `api`: the subscription key first (from the credential
   * headers, else `queryKey`, Gemini's `?key=`), then the API's JWT when it has `auth.jwt`.
   * Rejects with TM_UNAUTHORIZED / TM_FORBIDDEN; nothing has been forwarded then.
   */
  identify(headers: IncomingHttpHeaders, api: ApiConfig, queryKey?: string): Promise<Caller>;
  close(): void;
}

/**
 * Builds the stage once at start-up: one JWT verifier per API with `auth.jwt` (a JWKS starts
 * loading in the background; see createJwtVerifier). `options.log` receives JWKS fetch failures.
 */
export function createCallerIdentifier(
  config: Config,
  subscriptions: SubscriptionDirectory,
  options: { log?: Logger } = {},
): CallerIdentifier {
  const verifiers = new Map<string, JwtVerifier>();
  for (const api of config.apis) {
    if (api.auth?.jwt !== undefined) {
      const log = options.log?.child({ api: api.id });
      verifiers.set(api.id, createJwtVerifier(api.auth.jwt, log !== undefined ? { log } : {}));
    }
  }
  return {
    async identify(headers, api, queryKey) {
      const verifier = verifiers.get(api.id);
      // With a JWT on the API, Authorization carries the token; the key comes in another header.
      const key = readSubscriptionKey(headers, { bearer: verifier === undefined }) ?? queryKey;
      const caller = subscriptions.authenticate(key, api.id);
      if (verifier === undefined) return caller;
      const jwt = await verifier.verify(readBearerToken(headers));
      return jwt === undefined ? caller : { ...caller, jwt };
    },
    close() {
      for (const verifier of verifiers.values()) verifier.close();
    },
  };
}
