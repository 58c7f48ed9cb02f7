// What verifying a JWT costs per call (src/auth/jwt-verifier.ts), one call after another as at
// 1 connection: jose's jwtVerify with a cached JWKS (RS256 and ES256) and with a publicKey,
// each without and with the verified-token cache (the same token sent call after call).
// Entra ID–shaped access tokens (~20 claims). Run: node --import tsx bench/jwt-verify-bench.ts
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { configSchema } from '../src/config/schema.js';
import { createJwtVerifier, type JwtVerifier } from '../src/auth/jwt-verifier.js';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const ISSUER = `https://login.microsoftonline.com/${TENANT}/v2.0`;
const AUDIENCE = 'api://tokenmeter-bench';

/** Microseconds per verify, median of five rounds of `n` sequential calls. */
async function usPerCall(verifier: JwtVerifier, token: string, n: number): Promise<number> {
  const rounds: number[] = [];
  for (let round = 0; round < 5; round++) {
    const start = performance.now();
    for (let i = 0; i < n; i++) await verifier.verify(token);
    rounds.push(((performance.now() - start) * 1000) / n);
  }
  rounds.sort((a, b) => a - b);
  return rounds[2] ?? NaN;
}

async function signEntraToken(alg: 'RS256' | 'ES256', key: CryptoKey, kid: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    aio: 'E2ZgYJj8u7X9k3lVnNlKp4Fh6d0fAA==',
    azp: '2b8e8e1c-6f3a-4a55-9a1e-7c1c5a3c9f01',
    azpacr: '1',
    appid: '2b8e8e1c-6f3a-4a55-9a1e-7c1c5a3c9f01',
    idp: ISSUER.replace('/v2.0', '/'),
    name: 'Bench User',
    oid: '00000000-0000-0000-0000-00000000b001',
    preferred_username: 'bench@contoso.example',
    rh: '0.AXEAv4j5cvGGr0GRqy180BHbR1AAAAAAAAAAwAAAAAAAAAA.',
    roles: ['Tokenmeter.Call'],
    scp: 'access_as_user',
    sub: 'bQ2Yk2L1kz1wq5E5cM0f1vT9sTg7p2o6h3n4b5v6c7x',
    tid: TENANT,
    uti: 'AbCdEfGhIjKlMnOpQrStUv',
    ver: '2.0',
  })
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + 3600)
    .sign(key);
}

const rsa = await generateKeyPair('RS256', { extractable: true });
const ec = await generateKeyPair('ES256', { extractable: true });
const jwks = {
  keys: [
    { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', use: 'sig' },
    { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', use: 'sig' },
  ],
};
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/keys`;

const jwtConfig = (source: { jwksUrl: string } | { publicKey: string }) => {
  const config = configSchema.parse({
    backends: [{ id: 'b', type: 'simulator' }],
    apis: [
      {
        id: 'a',
        path: '/a',
        type: 'openai',
        backend: 'b',
        auth: { jwt: { issuer: ISSUER, audience: AUDIENCE, ...source } },
      },
    ],
  });
  const jwt = config.apis[0]?.auth?.jwt;
  if (jwt === undefined) throw new Error('no jwt config');
  return jwt;
};

const rsToken = await signEntraToken('RS256', rsa.privateKey, 'rsa-1');
const esToken = await signEntraToken('ES256', ec.privateKey, 'ec-1');
const n = 2000;
const rows: [string, number, number][] = [];
for (const [name, source, token] of [
  ['RS256, JWKS', { jwksUrl }, rsToken],
  ['ES256, JWKS', { jwksUrl }, esToken],
  ['RS256, publicKey (SPKI PEM)', { publicKey: await exportSPKI(rsa.publicKey) }, rsToken],
] as const) {
  const uncached = createJwtVerifier(jwtConfig(source), { cacheSize: 0 });
  const cached = createJwtVerifier(jwtConfig(source));
  await uncached.verify(token); // first call: the JWKS fetch and key import
  await cached.verify(token);
  rows.push([name, await usPerCall(uncached, token, n), await usPerCall(cached, token, n * 10)]);
  uncached.close();
  cached.close();
}
server.close();

console.log(
  `token: ${rsToken.length} bytes (RS256), ${esToken.length} bytes (ES256); ${n} sequential calls per round`,
);
console.log('| key | jose jwtVerify every call (µs) | verified-token cache hit (µs) |');
console.log('| --- | ---: | ---: |');
for (const [name, verify, hit] of rows) console.log(`| ${name} | ${verify.toFixed(1)} | ${hit.toFixed(1)} |`);
