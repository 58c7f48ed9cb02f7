import { TokenmeterError } from '../errors.js';

/** The check of `apis[].auth.jwt` a token failed; stable names (tests and logs use them). */
export type JwtCheck =
  | 'missing'
  | 'malformed'
  | 'signature'
  | 'expired'
  | 'not-yet-valid'
  | 'issuer'
  | 'audience'
  | 'unknown-kid'
  | 'algorithm';

/** What each check says to the client, after "JWT rejected: ". Never the token itself. */
const CHECK_MESSAGES: Readonly<Record<JwtCheck, string>> = {
  missing:
    'missing token. Send it as Authorization: Bearer <token>; the subscription key then goes in the api-key (or Ocp-Apim-Subscription-Key, x-api-key) header',
  malformed: 'malformed token',
  signature: 'bad signature',
  expired: 'token expired',
  'not-yet-valid': 'token not yet valid',
  issuer: 'wrong issuer',
  audience: 'wrong audience',
  'unknown-kid': 'unknown signing key (kid)',
  algorithm: 'algorithm not allowed',
};

/** A 401 TM_UNAUTHORIZED for a JWT that failed one check; `check` names which. */
export class JwtRejectedError extends TokenmeterError {
  readonly check: JwtCheck;

  constructor(check: JwtCheck, detail?: string, options?: { cause?: unknown }) {
    const base = `JWT rejected: ${CHECK_MESSAGES[check]}`;
    super('TM_UNAUTHORIZED', detail === undefined ? `${base}.` : `${base} (${detail}).`, options);
    this.check = check;
  }
}

/** What the verifier expects, for messages that help fix a configuration mismatch. */
export interface JwtExpectations {
  issuer: string | readonly string[];
  audience: string | readonly string[];
  clockSkewSeconds: number;
  algorithms: readonly string[];
}

interface JoseErrorShape {
  code?: unknown;
  claim?: unknown;
  reason?: unknown;
  payload?: unknown;
}

/**
 * Maps an error of jose's `jwtVerify` to the check that failed. Catalogue errors (the JWKS could
 * not be fetched: TM_AUTH_UNAVAILABLE) pass through unchanged: an identity provider that is down
 * does not make a token bad. Messages name claim timestamps and the configured expectations,
 * never the token or other claim values.
 */
export function rejectionFromJoseError(err: unknown, expected: JwtExpectations): TokenmeterError {
  if (err instanceof TokenmeterError) return err;
  const shape: JoseErrorShape = typeof err === 'object' && err !== null ? err : {};
  const cause = { cause: err };
  switch (shape.code) {
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return new JwtRejectedError('malformed', 'not a signed JWT in compact form', cause);
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return new JwtRejectedError('signature', undefined, cause);
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return new JwtRejectedError('algorithm', `accepted: ${expected.algorithms.join(', ')}`, cause);
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWK_INVALID':
      return new JwtRejectedError('unknown-kid', 'no key of the identity provider matches the token', cause);
    case 'ERR_JWT_EXPIRED':
      return expiredRejection(shape.payload, expected, cause);
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return claimRejection(shape, expected, cause);
    default:
      // e.g. an RSA key under 2048 bits: jose refuses to verify with it.
      return new JwtRejectedError('signature', 'the signature cannot be verified with the key', cause);
  }
}

function claimRejection(
  shape: JoseErrorShape,
  expected: JwtExpectations,
  cause: { cause: unknown },
): JwtRejectedError {
  const missing = shape.reason === 'missing';
  switch (shape.claim) {
    case 'iss':
      return new JwtRejectedError(
        'issuer',
        missing ? 'the token has no iss claim' : `expected ${list(expected.issuer)}`,
        cause,
      );
    case 'aud':
      return new JwtRejectedError(
        'audience',
        missing ? 'the token has no aud claim' : `expected ${list(expected.audience)}`,
        cause,
      );
    case 'nbf':
      if (shape.reason === 'check_failed') return notYetValidRejection(shape.payload, expected, cause);
      return new JwtRejectedError('malformed', 'nbf is not a number', cause);
    case 'exp':
      return new JwtRejectedError(
        'malformed',
        missing ? 'the token has no exp claim' : 'exp is not a number',
        cause,
      );
    default:
      return new JwtRejectedError('malformed', `invalid ${String(shape.claim)} claim`, cause);
  }
}

/** `exp` is past, beyond the clock skew; `claims` holds the token's `exp`. */
export function expiredRejection(
  claims: unknown,
  expected: JwtExpectations,
  options?: { cause?: unknown },
): JwtRejectedError {
  return new JwtRejectedError('expired', describeTime('exp', claims, expected), options);
}

/** `nbf` is ahead, beyond the clock skew; `claims` holds the token's `nbf`. */
export function notYetValidRejection(
  claims: unknown,
  expected: JwtExpectations,
  options?: { cause?: unknown },
): JwtRejectedError {
  return new JwtRejectedError('not-yet-valid', describeTime('nbf', claims, expected), options);
}

function describeTime(claim: 'exp' | 'nbf', payload: unknown, expected: JwtExpectations): string {
  const value =
    typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>)[claim] : undefined;
  // Date covers ±8.64e15 ms; a token may carry any number, and toISOString would throw beyond it.
  const when =
    typeof value === 'number' && Math.abs(value) <= 8.64e12
      ? new Date(value * 1000).toISOString()
      : 'unknown';
  return `${claim} ${when}, clock skew allowed ${expected.clockSkewSeconds} s`;
}

function list(value: string | readonly string[]): string {
  return typeof value === 'string' ? value : value.join(' or ');
}
