import { createPublicKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';

/**
 * One public key that verifies an API's JWTs (`apis[].auth.jwt.publicKey`), with the JWS
 * algorithms that fit it. Only asymmetric algorithms are ever listed: an HMAC-signed token
 * (HS256 …) against this key is refused before any signature check, as is `alg: none`.
 */
export interface VerificationKey {
  key: KeyObject;
  /** The accepted `alg` values; one when a JWK names its `alg`. */
  algorithms: readonly string[];
}

const RSA_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const RSA_PSS_ALGORITHMS = ['PS256', 'PS384', 'PS512'];
const EC_ALGORITHMS: Readonly<Record<string, string>> = {
  prime256v1: 'ES256',
  secp384r1: 'ES384',
  secp521r1: 'ES512',
};

/** The asymmetric JWS algorithms a key of this type and curve can verify (RFC 7518 §3). */
export function algorithmsForKey(key: KeyObject): readonly string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return RSA_ALGORITHMS;
    case 'rsa-pss':
      return RSA_PSS_ALGORITHMS;
    case 'ec': {
      const alg = EC_ALGORITHMS[key.asymmetricKeyDetails?.namedCurve ?? ''];
      return alg === undefined ? [] : [alg];
    }
    case 'ed25519':
      return ['EdDSA', 'Ed25519'];
    default:
      return [];
  }
}

/**
 * Loads `publicKey`: a PEM SPKI public key (`-----BEGIN PUBLIC KEY-----`, PKCS#1 RSA also
 * accepted), a PEM X.509 certificate (its public key), or a JWK as JSON. Private keys and
 * symmetric (`oct`) keys are refused, so a misplaced secret never becomes a verification key.
 * Throws an Error whose message says what is wrong (never the key's content).
 */
export function loadVerificationKey(text: string): VerificationKey {
  const trimmed = text.trim();
  let key: KeyObject;
  let jwkAlg: string | undefined;
  if (trimmed.startsWith('{')) {
    const jwk = parseJwk(trimmed);
    jwkAlg = typeof jwk.alg === 'string' ? jwk.alg : undefined;
    key = importPublic(() => createPublicKey({ key: jwk, format: 'jwk' }), 'JWK');
  } else if (trimmed.includes('-----BEGIN CERTIFICATE-----')) {
    key = importPublic(() => new X509Certificate(trimmed).publicKey, 'certificate');
  } else if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(trimmed)) {
    throw new Error('is a private key: give the public key (or the certificate) only');
  } else if (/-----BEGIN (RSA )?PUBLIC KEY-----/.test(trimmed)) {
    key = importPublic(() => createPublicKey(trimmed), 'PEM public key');
  } else {
    throw new Error(
      'expected a PEM public key (-----BEGIN PUBLIC KEY-----), a PEM certificate (-----BEGIN CERTIFICATE-----) or a JWK as JSON',
    );
  }
  const fitting = algorithmsForKey(key);
  if (fitting.length === 0) {
    throw new Error(
      `has an unsupported key type (${key.asymmetricKeyType ?? 'unknown'}): expected RSA, EC (P-256, P-384, P-521) or Ed25519`,
    );
  }
  if (jwkAlg === undefined) return { key, algorithms: fitting };
  if (!fitting.includes(jwkAlg)) {
    throw new Error(`names alg "${jwkAlg}", which does not fit its key type (${fitting.join(', ')})`);
  }
  return { key, algorithms: [jwkAlg] };
}

/** Why `publicKey` cannot be used, or undefined when it loads (for `config check`). */
export function describePublicKeyProblem(text: string): string | undefined {
  try {
    loadVerificationKey(text);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

function parseJwk(text: string): JsonWebKey {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('starts with "{" but is not valid JSON (expected a JWK)');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('is not a JWK object');
  }
  const jwk = value as Record<string, unknown>;
  if ('keys' in jwk) throw new Error('is a JWK set: give one key, or use jwksUrl');
  if (jwk.kty === 'oct')
    throw new Error('is a symmetric (oct) key: only public RSA, EC or OKP keys verify JWTs');
  if ('d' in jwk) throw new Error('is a private JWK (it has "d"): give the public key only');
  return jwk;
}

function importPublic(load: () => KeyObject, what: string): KeyObject {
  try {
    return load();
  } catch (err) {
    // Node's messages name the decoder's problem, never the key material.
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`is not a readable ${what}: ${reason}`);
  }
}
