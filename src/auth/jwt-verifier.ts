import { errors, jwtVerify, type JWTPayload, type JWTVerifyOptions, type JWTVerifyResult } from 'jose';
import type { Logger } from 'pino';
import type { JwtAuthConfig } from '../config/schema.js';
import type { VerifiedJwt } from './caller.js';
import { createJwksCache, type JwksCache, type JwksTiming } from './jwks-cache.js';
import {
  expiredRejection,
  JwtRejectedError,
  notYetValidRejection,
  rejectionFromJoseError,
  type JwtExpectations,
} from './jwt-rejection.js';
import { loadVerificationKey } from './verification-key.js';
import { createVerifiedTokenCache, type VerifiedTokenEntry } from './verified-token-cache.js';

/** Verifies the JWTs of one API (`apis[].auth.jwt`). */
export interface JwtVerifier {
  /**
   * Verifies the bearer token of a call (undefined: none sent). Resolves the verified token, or
   * undefined when none was sent and the API does not require one; rejects with TM_UNAUTHORIZED
   * naming the check that failed (never the token), or TM_AUTH_UNAVAILABLE when the identity
   * provider's keys cannot be fetched.
   */
  verify(token: string | undefined): Promise<VerifiedJwt | undefined>;
  /** Stops background work (a JWKS fetch in flight), if any. */
  close(): void;
}

export interface JwtVerifierOptions {
  log?: Logger;
  /** The clock (epoch ms) for `exp` / `nbf` and the JWKS cache; tests move it. */
  now?: () => number;
  /** JWKS fetch timing (defaults: DEFAULT_JWKS_TIMING). */
  jwks?: Partial<JwksTiming>;
  /** Verified tokens kept (default 1000; 0 verifies every call afresh). */
  cacheSize?: number;
}

/** Every asymmetric JWS algorithm jose verifies; a JWKS key is only used with those fitting its type. */
const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

const DEFAULT_CACHE_SIZE = 1000;

/**
 * Builds the verifier of one API's `auth.jwt`. With `publicKey` the key is loaded here (a bad
 * key throws; `config check` reports it first); with `jwksUrl` the keys are fetched in the
 * background, and the gateway starts even when the URL is unreachable.
 *
 * Checks, in jose's order: compact JWS form, `alg` among the asymmetric algorithms that fit the
 * key (so `alg: none` and HS256 … are refused before any key is used), the key (`kid`), the
 * signature, then `iss`, `aud`, `nbf` and `exp` (required) with `clockSkewSeconds` of tolerance.
 */
export function createJwtVerifier(config: JwtAuthConfig, options: JwtVerifierOptions = {}): JwtVerifier {
  const now = options.now ?? Date.now;
  let jwks: JwksCache | undefined;
  let verifyWith: (token: string, verifyOptions: JWTVerifyOptions) => Promise<JWTVerifyResult>;
  let algorithms: readonly string[];
  if (config.publicKey !== undefined) {
    const loaded = loadVerificationKey(config.publicKey);
    algorithms = loaded.algorithms;
    verifyWith = (token, verifyOptions) => jwtVerify(token, loaded.key, verifyOptions);
  } else {
    const url = config.jwksUrl ?? '';
    const cache = createJwksCache({
      url,
      now,
      ...options.jwks,
      onFetchError: (err) => options.log?.warn({ err, jwksUrl: url }, 'JWKS fetch failed'),
    });
    jwks = cache;
    algorithms = ASYMMETRIC_ALGORITHMS;
    verifyWith = (token, verifyOptions) => verifyWithKeySet(token, cache, verifyOptions);
  }
  const expected: JwtExpectations = {
    issuer: config.issuer,
    audience: config.audience,
    clockSkewSeconds: config.clockSkewSeconds,
    algorithms,
  };
  const baseOptions = {
    issuer: config.issuer,
    audience: config.audience,
    algorithms: [...algorithms],
    clockTolerance: config.clockSkewSeconds,
    // A token without exp would be valid forever; identity providers always set it.
    requiredClaims: ['exp'],
  } satisfies JWTVerifyOptions;
  const verified = createVerifiedTokenCache(options.cacheSize ?? DEFAULT_CACHE_SIZE);

  return {
    async verify(token) {
      if (token === undefined) {
        if (!config.required) return undefined;
        throw new JwtRejectedError('missing');
      }
      const nowMs = now();
      const cached = verified.get(token);
      if (cached !== undefined) {
        try {
          checkTimes(cached, nowMs / 1000, expected);
        } catch (err) {
          verified.delete(token);
          throw err;
        }
        return cached.jwt;
      }
      let result: JWTVerifyResult;
      try {
        result = await verifyWith(token, { ...baseOptions, currentDate: new Date(nowMs) });
      } catch (err) {
        throw rejectionFromJoseError(err, expected);
      }
      const jwt = toVerifiedJwt(result, config.userClaim);
      // exp is a number here: requiredClaims made jose check its presence and type.
      verified.set(token, { jwt, expiresAt: result.payload.exp ?? 0, notBefore: result.payload.nbf });
      return jwt;
    },
    close() {
      jwks?.close();
    },
  };
}

/** The time checks of a token verified earlier, against the clock of this call. */
function checkTimes(entry: VerifiedTokenEntry, nowSeconds: number, expected: JwtExpectations): void {
  const skew = expected.clockSkewSeconds;
  if (entry.expiresAt <= nowSeconds - skew) throw expiredRejection({ exp: entry.expiresAt }, expected);
  if (entry.notBefore !== undefined && entry.notBefore > nowSeconds + skew) {
    throw notYetValidRejection({ nbf: entry.notBefore }, expected);
  }
}

/**
 * Verifies against a JWKS. A token without `kid` that several keys could verify is tried with
 * each (jose leaves that to its caller); only a signature failure moves on to the next key.
 */
async function verifyWithKeySet(
  token: string,
  cache: JwksCache,
  verifyOptions: JWTVerifyOptions,
): Promise<JWTVerifyResult> {
  try {
    return await jwtVerify(token, cache.getKey, verifyOptions);
  } catch (err) {
    if (!isMultipleMatchingKeys(err)) throw err;
    for await (const key of err) {
      try {
        return await jwtVerify(token, key, verifyOptions);
      } catch (inner) {
        if ((inner as { code?: unknown }).code !== 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') throw inner;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}

function isMultipleMatchingKeys(err: unknown): err is errors.JWKSMultipleMatchingKeys {
  return err instanceof errors.JWKSMultipleMatchingKeys;
}

function toVerifiedJwt(result: JWTVerifyResult<JWTPayload>, userClaim: string | undefined): VerifiedJwt {
  const claims: Readonly<Record<string, unknown>> = Object.freeze({ ...result.payload });
  const kid = result.protectedHeader.kid;
  const value = userClaim === undefined ? undefined : claims[userClaim];
  const user =
    typeof value === 'string' && value !== ''
      ? value
      : typeof value === 'number' && Number.isFinite(value)
        ? String(value)
        : undefined;
  return {
    claims,
    ...(kid !== undefined ? { keyId: kid } : {}),
    ...(userClaim !== undefined ? { userClaim } : {}),
    ...(user !== undefined ? { user } : {}),
  };
}
