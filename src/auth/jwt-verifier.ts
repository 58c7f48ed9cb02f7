import type { JwtAuthConfig } from '../config/schema.js';
import { TokenmeterError } from '../errors.js';
import type { VerifiedJwt } from './caller.js';

/** Verifies the JWTs of one API (`apis[].auth.jwt`). */
export interface JwtVerifier {
  /**
   * Verifies the bearer token of a call (undefined: none sent). Resolves the verified token, or
   * undefined when none was sent and the API does not require one; rejects with TM_UNAUTHORIZED
   * naming the check that failed (never the token).
   */
  verify(token: string | undefined): Promise<VerifiedJwt | undefined>;
  /** Stops background work (JWKS refetch timers), if any. */
  close(): void;
}

/** Builds the verifier of one API's `auth.jwt`. (Groundwork: not built yet.) */
export function createJwtVerifier(config: JwtAuthConfig): JwtVerifier {
  void config;
  throw new TokenmeterError('TM_CONFIG_INVALID', 'apis[].auth.jwt is not available yet');
}
