import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CompactSign,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';

/** A tenant, application and user as Entra ID puts them in an access token (v2.0). */
export const TENANT_ID = '72f988bf-86f1-41af-91ab-2d7cd011db47';
export const ISSUER = `https://login.microsoftonline.com/${TENANT_ID}/v2.0`;
export const AUDIENCE = 'api://tokenmeter-test';
export const APP_IDS = {
  search: '2b8e8e1c-6f3a-4a55-9a1e-7c1c5a3c9f01',
  support: '9d0c7a44-1b2e-4c3d-8e5f-a6b7c8d9e0f1',
} as const;
export const USER_OID = '5f0d2c1e-3b4a-4f6e-9d8c-7a6b5c4d3e2f';

/** The signing keys of the fake identity provider, by `kid`. */
export type KeyName = 'rsa-1' | 'rsa-2' | 'ec-1';

interface KeyPair {
  alg: 'RS256' | 'ES256';
  privateKey: CryptoKey;
  publicJwk: JWK;
  spki: string;
}

/** A real JWKS HTTP server on port 0 that counts its fetches, and a token signer. */
export interface IdentityProvider {
  jwksUrl: string;
  /** JWKS requests answered so far (failed ones included). */
  fetches(): number;
  /** The keys the JWKS publishes from now on (default: rsa-1 and ec-1). */
  publish(kids: readonly KeyName[]): void;
  /** Answer the JWKS with this HTTP status (undefined: serve the keys again). */
  failWith(status: number | undefined): void;
  /** The SPKI PEM / public JWK of a key (for `publicKey`). */
  spki(kid: KeyName): string;
  publicJwk(kid: KeyName): JWK;
  /**
   * An Entra ID–shaped access token signed by `kid` (RS256 for rsa-*, ES256 for ec-1), valid
   * for an hour from now; `claims` override or add claims (undefined removes one), `header`
   * overrides the protected header (e.g. `{ kid: undefined }`).
   */
  sign(options?: {
    kid?: KeyName;
    claims?: Record<string, unknown>;
    header?: Record<string, unknown>;
    /** Sign with this private key instead of kid's (a forger using a known kid). */
    signingKey?: CryptoKey;
  }): Promise<string>;
  /** A JWS over arbitrary payload bytes, correctly signed by `kid` (for payloads that are no JWT). */
  signBytes(payload: Uint8Array, kid?: KeyName): Promise<string>;
  close(): Promise<void>;
}

async function generate(alg: 'RS256' | 'ES256', kid: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return {
    alg,
    privateKey,
    publicJwk: { ...(await exportJWK(publicKey)), kid, use: 'sig' },
    spki: await exportSPKI(publicKey),
  };
}

/** The claims of an Entra ID v2.0 access token for `app`, as of `now` (epoch seconds). */
export function entraClaims(now: number, app: string = APP_IDS.search): JWTPayload {
  return {
    iss: ISSUER,
    aud: AUDIENCE,
    iat: now,
    nbf: now,
    exp: now + 3600,
    aio: 'E2ZgYJj8u7X9k3lVnNlKp4Fh6d0fAA==',
    azp: app,
    appid: app,
    oid: USER_OID,
    tid: TENANT_ID,
    sub: 'bQ2Yk2L1kz1wq5E5cM0f1vT9sTg7p2o6h3n4b5v6c7x',
    scp: 'access_as_user',
    ver: '2.0',
  };
}

export async function startIdentityProvider(): Promise<IdentityProvider> {
  const keys: Record<KeyName, KeyPair> = {
    'rsa-1': await generate('RS256', 'rsa-1'),
    'rsa-2': await generate('RS256', 'rsa-2'),
    'ec-1': await generate('ES256', 'ec-1'),
  };
  let published: readonly KeyName[] = ['rsa-1', 'ec-1'];
  let failure: number | undefined;
  let fetches = 0;
  const server = createServer((_req, res) => {
    fetches += 1;
    if (failure !== undefined) {
      res.writeHead(failure, { 'content-type': 'text/plain' }).end('identity provider down');
      return;
    }
    const body = JSON.stringify({ keys: published.map((kid) => keys[kid].publicJwk) });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    jwksUrl: `http://127.0.0.1:${port}/${TENANT_ID}/discovery/v2.0/keys`,
    fetches: () => fetches,
    publish(kids) {
      published = kids;
    },
    failWith(status) {
      failure = status;
    },
    spki: (kid) => keys[kid].spki,
    publicJwk: (kid) => keys[kid].publicJwk,
    async sign(options = {}) {
      const kid = options.kid ?? 'rsa-1';
      const pair = keys[kid];
      const claims: Record<string, unknown> = {
        ...entraClaims(Math.floor(Date.now() / 1000)),
        ...options.claims,
      };
      for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
      const header: Record<string, unknown> = { alg: pair.alg, kid, typ: 'JWT', ...options.header };
      for (const [name, value] of Object.entries(header)) if (value === undefined) delete header[name];
      return new SignJWT(claims)
        .setProtectedHeader({ ...header, alg: pair.alg })
        .sign(options.signingKey ?? pair.privateKey);
    },
    signBytes(payload, kid = 'rsa-1') {
      const pair = keys[kid];
      return new CompactSign(payload).setProtectedHeader({ alg: pair.alg, kid }).sign(pair.privateKey);
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const base64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An unsecured token (`alg: none`, empty signature) carrying valid-looking claims. */
export function unsecuredToken(claims: JWTPayload): string {
  return `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(claims)}.`;
}

/**
 * The algorithm-confusion attack: HS256 keyed with the RSA public key's PEM text, which the
 * attacker knows, under the RSA key's kid. A verifier that let the token pick HMAC would accept it.
 */
export async function hmacWithPublicKey(claims: JWTPayload, spkiPem: string, kid: string): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', kid, typ: 'JWT' })
    .sign(new TextEncoder().encode(spkiPem));
}
