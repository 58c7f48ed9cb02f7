import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateKeyPair } from 'jose';
import { createJwtVerifier, type JwtVerifierOptions } from '../../src/auth/jwt-verifier.js';
import { JwtRejectedError, type JwtCheck } from '../../src/auth/jwt-rejection.js';
import type { JwtAuthConfig } from '../../src/config/schema.js';
import { TokenmeterError } from '../../src/errors.js';
import {
  APP_IDS,
  AUDIENCE,
  entraClaims,
  hmacWithPublicKey,
  ISSUER,
  startIdentityProvider,
  TENANT_ID,
  unsecuredToken,
  USER_OID,
  type IdentityProvider,
} from '../helpers/identity-provider.js';
import { CERT, KEY } from '../helpers/test-tls.js';

let idp: IdentityProvider;

before(async () => {
  idp = await startIdentityProvider();
});
after(async () => {
  await idp.close();
});

function jwksConfig(overrides: Partial<JwtAuthConfig> = {}): JwtAuthConfig {
  return {
    issuer: ISSUER,
    audience: AUDIENCE,
    jwksUrl: idp.jwksUrl,
    userClaim: 'oid',
    required: true,
    clockSkewSeconds: 60,
    ...overrides,
  };
}

/** A clock the test moves: no sleeping for rate limits and cache ages. */
function manualClock(start = Date.now()): { now: () => number; advance: (ms: number) => void } {
  let time = start;
  return { now: () => time, advance: (ms) => (time += ms) };
}

async function rejection(promise: Promise<unknown>): Promise<TokenmeterError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof TokenmeterError, `expected a TokenmeterError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the token to be rejected');
}

async function assertRejected(promise: Promise<unknown>, check: JwtCheck, token?: string): Promise<void> {
  const err = await rejection(promise);
  assert.ok(err instanceof JwtRejectedError, `expected a JwtRejectedError, got ${err.code}: ${err.message}`);
  assert.equal(err.code, 'TM_UNAUTHORIZED');
  assert.equal(err.status, 401);
  assert.equal(err.check, check, err.message);
  if (token !== undefined && token !== '') {
    assert.ok(!err.message.includes(token), 'the message must not repeat the token');
    const signature = token.split('.')[2] ?? '';
    if (signature.length > 8) assert.ok(!err.message.includes(signature));
  }
}

/** Polls until `condition` holds, failing after `ms`. */
async function waitFor(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail('condition not met in time');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function withVerifier(config: JwtAuthConfig, options: JwtVerifierOptions = {}) {
  const verifier = createJwtVerifier(config, options);
  after(() => verifier.close());
  return verifier;
}

describe('JWT verifier with a JWKS', () => {
  it('verifies RS256 and ES256 Entra ID tokens and exposes their claims and user', async () => {
    const verifier = withVerifier(jwksConfig());
    for (const kid of ['rsa-1', 'ec-1'] as const) {
      const jwt = await verifier.verify(await idp.sign({ kid }));
      assert.equal(jwt?.claims.appid, APP_IDS.search);
      assert.equal(jwt?.claims.tid, TENANT_ID);
      assert.equal(jwt?.keyId, kid);
      assert.equal(jwt?.userClaim, 'oid');
      assert.equal(jwt?.user, USER_OID);
    }
  });

  it('turns a numeric userClaim into a string and leaves user unset when the claim is absent', async () => {
    const verifier = withVerifier(jwksConfig({ userClaim: 'employee_no' }));
    assert.equal((await verifier.verify(await idp.sign({ claims: { employee_no: 4711 } })))?.user, '4711');
    const none = await verifier.verify(await idp.sign());
    assert.equal(none?.user, undefined);
    assert.equal(none?.userClaim, 'employee_no');
  });

  it('fetches the JWKS once for many distinct tokens', async () => {
    const before = idp.fetches();
    // cacheSize 0: every token goes through jose, so only the JWKS cache spares fetches.
    const verifier = withVerifier(jwksConfig(), { cacheSize: 0 });
    for (let i = 0; i < 20; i += 1) {
      const kid = i % 2 === 0 ? 'rsa-1' : 'ec-1';
      assert.ok(await verifier.verify(await idp.sign({ kid, claims: { jti: `t${i}` } })));
    }
    assert.equal(idp.fetches() - before, 1);
  });

  describe('refuses each bad input with 401 TM_UNAUTHORIZED naming the check', () => {
    const now = (): number => Math.floor(Date.now() / 1000);
    const cases: [string, JwtCheck, () => Promise<string>][] = [
      [
        'bad signature (a forger reusing a published kid)',
        'signature',
        async () => {
          const forger = await generateKeyPair('RS256');
          return idp.sign({ kid: 'rsa-1', signingKey: forger.privateKey });
        },
      ],
      [
        'a tampered payload',
        'signature',
        async () => {
          const [header, , signature] = (await idp.sign()).split('.');
          const payload = Buffer.from(
            JSON.stringify({ ...entraClaims(now()), appid: APP_IDS.support }),
          ).toString('base64url');
          return `${header}.${payload}.${signature}`;
        },
      ],
      ['expired (beyond the clock skew)', 'expired', () => idp.sign({ claims: { exp: now() - 61 } })],
      [
        'not yet valid (beyond the clock skew)',
        'not-yet-valid',
        () => idp.sign({ claims: { nbf: now() + 120 } }),
      ],
      [
        'wrong issuer (Entra v1 issuer)',
        'issuer',
        () => idp.sign({ claims: { iss: `https://sts.windows.net/${TENANT_ID}/` } }),
      ],
      ['no issuer', 'issuer', () => idp.sign({ claims: { iss: undefined } })],
      ['wrong audience', 'audience', () => idp.sign({ claims: { aud: 'api://another-api' } })],
      ['alg: none', 'algorithm', () => Promise.resolve(unsecuredToken(entraClaims(now())))],
      [
        'HS256 keyed with the RSA public key',
        'algorithm',
        () => hmacWithPublicKey(entraClaims(now()), idp.spki('rsa-1'), 'rsa-1'),
      ],
      ['unknown kid (after the refetch)', 'unknown-kid', () => idp.sign({ kid: 'rsa-2' })],
      ['malformed: not a JWT', 'malformed', () => Promise.resolve('not-a-jwt')],
      ['malformed: three parts of garbage', 'malformed', () => Promise.resolve('eyJhbGciOi.%%%.zzz')],
      [
        'malformed: a signed payload that is not JSON',
        'malformed',
        () => idp.signBytes(new TextEncoder().encode('not json')),
      ],
      ['no exp claim', 'malformed', () => idp.sign({ claims: { exp: undefined } })],
    ];
    for (const [name, check, makeToken] of cases) {
      it(name, async () => {
        const verifier = withVerifier(jwksConfig());
        const token = await makeToken();
        await assertRejected(verifier.verify(token), check, token);
      });
    }

    it('missing token', async () => {
      await assertRejected(withVerifier(jwksConfig()).verify(undefined), 'missing');
    });
  });

  it('accepts exp and nbf within clockSkewSeconds', async () => {
    const now = Math.floor(Date.now() / 1000);
    const verifier = withVerifier(jwksConfig({ clockSkewSeconds: 60 }));
    assert.ok(await verifier.verify(await idp.sign({ claims: { exp: now - 30 } })));
    assert.ok(await verifier.verify(await idp.sign({ claims: { nbf: now + 30 } })));
    const strict = withVerifier(jwksConfig({ clockSkewSeconds: 0 }));
    await assertRejected(strict.verify(await idp.sign({ claims: { exp: now - 30 } })), 'expired');
  });

  it('accepts any of several issuers and audiences', async () => {
    const verifier = withVerifier(
      jwksConfig({ issuer: ['https://issuer.example', ISSUER], audience: ['api://x', AUDIENCE] }),
    );
    assert.ok(await verifier.verify(await idp.sign({ claims: { aud: ['api://y', AUDIENCE] } })));
  });

  it('re-checks exp on every use of a token verified earlier', async () => {
    const clock = manualClock();
    const verifier = withVerifier(jwksConfig(), { now: clock.now });
    const token = await idp.sign({ claims: { exp: Math.floor(clock.now() / 1000) + 100 } });
    assert.ok(await verifier.verify(token));
    assert.ok(await verifier.verify(token));
    clock.advance(161_000); // past exp + 60 s of skew
    await assertRejected(verifier.verify(token), 'expired', token);
    await assertRejected(verifier.verify(token), 'expired', token);
  });

  it('required: false serves a call without a token, but a token sent must be valid', async () => {
    const verifier = withVerifier(jwksConfig({ required: false }));
    assert.equal(await verifier.verify(undefined), undefined);
    await assertRejected(verifier.verify(await idp.sign({ claims: { aud: 'api://other' } })), 'audience');
    assert.ok(await verifier.verify(await idp.sign()));
  });

  it('tries each matching key for a token without kid', async () => {
    idp.publish(['rsa-1', 'rsa-2', 'ec-1']);
    try {
      const verifier = withVerifier(jwksConfig());
      const jwt = await verifier.verify(await idp.sign({ kid: 'rsa-2', header: { kid: undefined } }));
      assert.equal(jwt?.claims.appid, APP_IDS.search);
      assert.equal(jwt?.keyId, undefined);
    } finally {
      idp.publish(['rsa-1', 'ec-1']);
    }
  });
});

describe('JWKS caching, refetch and outages', () => {
  it('an unknown kid refetches once, and not again within the refetch interval', async () => {
    const clock = manualClock();
    const verifier = withVerifier(jwksConfig(), { now: clock.now, cacheSize: 0 });
    const start = idp.fetches();
    assert.ok(await verifier.verify(await idp.sign()));
    assert.equal(idp.fetches() - start, 1);

    const unknown = await idp.sign({ kid: 'rsa-2' });
    await assertRejected(verifier.verify(unknown), 'unknown-kid');
    assert.equal(idp.fetches() - start, 2, 'one refetch for the unknown kid');
    await assertRejected(verifier.verify(unknown), 'unknown-kid');
    await assertRejected(
      verifier.verify(await idp.sign({ kid: 'rsa-2', claims: { jti: 'x' } })),
      'unknown-kid',
    );
    assert.equal(idp.fetches() - start, 2, 'rate-limited: no refetch within 30 s');

    clock.advance(30_000);
    await assertRejected(verifier.verify(unknown), 'unknown-kid');
    assert.equal(idp.fetches() - start, 3, 'the next refetch once the interval has passed');
  });

  it('key rotation at the identity provider just works', async () => {
    const verifier = withVerifier(jwksConfig());
    assert.ok(await verifier.verify(await idp.sign({ kid: 'rsa-1' })));
    const start = idp.fetches();
    idp.publish(['rsa-2', 'ec-1']);
    try {
      const jwt = await verifier.verify(await idp.sign({ kid: 'rsa-2' }));
      assert.equal(jwt?.keyId, 'rsa-2');
      assert.equal(idp.fetches() - start, 1);
    } finally {
      idp.publish(['rsa-1', 'ec-1']);
    }
  });

  it('an identity provider down at start gives TM_AUTH_UNAVAILABLE, retried no faster than the retry interval', async () => {
    const clock = manualClock();
    idp.failWith(500);
    try {
      const start = idp.fetches();
      const verifier = withVerifier(jwksConfig(), { now: clock.now });
      const token = await idp.sign();
      const first = await rejection(verifier.verify(token));
      assert.equal(first.code, 'TM_AUTH_UNAVAILABLE');
      assert.equal(first.status, 503);
      assert.ok(!first.message.includes(token));
      // The fetch started with the verifier is the one that failed; the call did not start another.
      const afterFirst = idp.fetches() - start;
      assert.equal(afterFirst, 1);
      assert.equal((await rejection(verifier.verify(token))).code, 'TM_AUTH_UNAVAILABLE');
      assert.equal(idp.fetches() - start, afterFirst, 'no fetch within the retry interval');

      idp.failWith(undefined);
      clock.advance(5_000);
      assert.equal((await verifier.verify(token))?.claims.appid, APP_IDS.search);
      assert.equal(idp.fetches() - start, afterFirst + 1);
    } finally {
      idp.failWith(undefined);
    }
  });

  it('an unreachable JWKS URL gives TM_AUTH_UNAVAILABLE, not a rejected token', async () => {
    const verifier = withVerifier(jwksConfig({ jwksUrl: 'http://127.0.0.1:9/keys' }));
    const err = await rejection(verifier.verify(await idp.sign()));
    assert.equal(err.code, 'TM_AUTH_UNAVAILABLE');
  });

  it('keys older than the max age are refreshed in the background; stale keys serve through an outage', async () => {
    const clock = manualClock();
    const verifier = withVerifier(jwksConfig(), { now: clock.now, cacheSize: 0 });
    assert.ok(await verifier.verify(await idp.sign()));
    const start = idp.fetches();
    clock.advance(10 * 60_000);
    idp.failWith(503);
    try {
      assert.ok(await verifier.verify(await idp.sign({ claims: { jti: 'during-outage' } })));
      await waitFor(() => idp.fetches() - start === 1);
      assert.ok(await verifier.verify(await idp.sign({ claims: { jti: 'still-down' } })));
      assert.equal(idp.fetches() - start, 1, 'a failed refresh is not retried within the retry interval');
    } finally {
      idp.failWith(undefined);
    }
    clock.advance(5_000);
    assert.ok(await verifier.verify(await idp.sign({ claims: { jti: 'back' } })));
    await waitFor(() => idp.fetches() - start === 2);
  });
});

describe('JWT verifier with a publicKey', () => {
  const config = (publicKey: string): JwtAuthConfig => ({
    issuer: ISSUER,
    audience: AUDIENCE,
    publicKey,
    required: true,
    clockSkewSeconds: 60,
  });

  it('verifies with a PEM SPKI key and refuses HS256 keyed with that PEM', async () => {
    const verifier = withVerifier(config(idp.spki('rsa-1')));
    assert.ok(await verifier.verify(await idp.sign({ kid: 'rsa-1' })));
    const now = Math.floor(Date.now() / 1000);
    const confused = await hmacWithPublicKey(entraClaims(now), idp.spki('rsa-1'), 'rsa-1');
    await assertRejected(verifier.verify(confused), 'algorithm', confused);
    await assertRejected(verifier.verify(unsecuredToken(entraClaims(now))), 'algorithm');
    // An EC token against an RSA key: ES256 does not fit the key type.
    await assertRejected(verifier.verify(await idp.sign({ kid: 'ec-1' })), 'algorithm');
    await assertRejected(verifier.verify(await idp.sign({ kid: 'rsa-2' })), 'signature');
  });

  it('verifies with a JWK given as JSON', async () => {
    const verifier = withVerifier(config(JSON.stringify(idp.publicJwk('ec-1'))));
    assert.ok(await verifier.verify(await idp.sign({ kid: 'ec-1' })));
    await assertRejected(verifier.verify(await idp.sign({ kid: 'rsa-1' })), 'algorithm');
  });

  it('verifies with a PEM X.509 certificate', async () => {
    const { importPKCS8, SignJWT } = await import('jose');
    const privateKey = await importPKCS8(KEY, 'ES256');
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT(entraClaims(now)).setProtectedHeader({ alg: 'ES256' }).sign(privateKey);
    const verifier = withVerifier(config(CERT));
    assert.equal((await verifier.verify(token))?.claims.oid, USER_OID);
  });
});
