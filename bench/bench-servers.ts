import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema, type Config } from '../src/config/schema.js';
import { startSimulator } from '../src/simulator/index.js';
import { startBareProxy } from './bare-proxy.js';
import { startLargeAnswerServer } from './large-answer.js';
import {
  BENCH_KEY,
  FAST_COMPLETION_TOKENS,
  IDENTITY,
  PACED,
  type ChildMessage,
  type Role,
} from './protocol.js';

/**
 * Child-process entry of the benchmark (forked by children.ts): each role runs in its own
 * process so that the load generator, the proxies and the upstream do not share an event loop.
 *   upstream [MB]     two simulators: "fast" (no pacing) and "paced" (for time-to-first-byte),
 *                     and "large", answering MB-megabyte chat completions (memory scenario);
 *                     and the identity provider: a JWKS ("jwks") and a token signed with its key
 *                     ("token"), for the identity scenario
 *   bare FAST PACED LARGE     a bare proxy in front of each
 *   gateway FAST PACED LARGE  tokenmeter with one API per upstream
 *   gateway-identity FAST JWKS  tokenmeter with an API that verifies a JWT, and 5 CEL dimensions
 * The child reports `{ type: 'ready', urls }` or `{ type: 'failed', message }` over IPC and
 * stops when the parent sends "stop" or goes away.
 */

type Closer = () => Promise<void>;

async function start(role: Role, args: string[]): Promise<{ urls: Record<string, string>; close: Closer }> {
  if (role === 'upstream') {
    const fast = await startSimulator({ tokensPerSecond: 0, completionTokens: FAST_COMPLETION_TOKENS });
    const paced = await startSimulator({
      tokensPerSecond: PACED.tokensPerSecond,
      completionTokens: PACED.completionTokens,
    });
    const large = await startLargeAnswerServer(Number(args[0] ?? 1));
    const idp = await startIdentityProvider();
    return {
      urls: { fast: fast.url, paced: paced.url, large: large.url, jwks: idp.jwksUrl, token: idp.token },
      close: async () => {
        await Promise.all([fast.close(), paced.close(), large.close(), idp.close()]);
      },
    };
  }
  if (role === 'gateway-identity') {
    const [fastUrl, jwksUrl] = args;
    if (fastUrl === undefined || jwksUrl === undefined)
      throw new Error(`${role} needs the upstream and JWKS URLs`);
    return startIdentityGateway(fastUrl, jwksUrl);
  }
  const [fastUrl, pacedUrl, largeUrl] = args;
  if (fastUrl === undefined || pacedUrl === undefined || largeUrl === undefined)
    throw new Error(`${role} needs the three upstream URLs`);
  if (role === 'bare') {
    const fast = await startBareProxy(fastUrl);
    const paced = await startBareProxy(pacedUrl);
    const large = await startBareProxy(largeUrl);
    return {
      urls: { fast: fast.url, paced: paced.url, large: large.url },
      close: async () => {
        await Promise.all([fast.close(), paced.close(), large.close()]);
      },
    };
  }
  return startTokenmeter(fastUrl, pacedUrl, largeUrl);
}

async function startTokenmeter(
  fastUrl: string,
  pacedUrl: string,
  largeUrl: string,
): Promise<{ urls: Record<string, string>; close: Closer }> {
  const dir = mkdtempSync(join(tmpdir(), 'tokenmeter-bench-'));
  // The upstreams are OpenAI-compatible servers in another process: backends of type "openai"
  // (type "simulator" would start a simulator inside the gateway process instead).
  const config = configSchema.parse({
    gateway: { id: 'gw-bench', location: 'bench', host: '127.0.0.1', port: 0 },
    ledger: `sqlite:${join(dir, 'ledger.db')}`,
    backends: [
      { id: 'simulator', type: 'openai', url: `${fastUrl}/v1`, apiKey: 'sk-bench-upstream' },
      { id: 'simulator-paced', type: 'openai', url: `${pacedUrl}/v1`, apiKey: 'sk-bench-upstream' },
      { id: 'large', type: 'openai', url: `${largeUrl}/v1`, apiKey: 'sk-bench-upstream' },
    ],
    apis: [
      { id: 'openai', path: '/openai/v1', type: 'openai', backend: 'simulator' },
      { id: 'openai-paced', path: '/paced/v1', type: 'openai', backend: 'simulator-paced' },
      { id: 'openai-large', path: '/large/v1', type: 'openai', backend: 'large' },
    ],
    products: [{ id: 'bench', apis: ['openai', 'openai-paced', 'openai-large'] }],
    subscriptions: [{ id: 'bench-team', key: BENCH_KEY, product: 'bench', costCenter: 'CC-BENCH' }],
    tokenMetrics: [
      {
        namespace: 'tokenmeter',
        dimensions: ['API ID', 'Operation ID', 'Subscription ID', 'model', 'backend'],
      },
    ],
  });
  return startBenchGateway(config, dir);
}

/**
 * A stand-in identity provider: an RSA key pair, its public half served as a JWKS, and one
 * application token (valid two hours, longer than any bench run) signed with the private half.
 */
async function startIdentityProvider(): Promise<{ jwksUrl: string; token: string; close: Closer }> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwks = JSON.stringify({
    keys: [{ ...(await exportJWK(publicKey)), kid: 'bench-1', alg: 'RS256', use: 'sig' }],
  });
  const token = await new SignJWT({ ...IDENTITY.claims })
    .setProtectedHeader({ alg: 'RS256', kid: 'bench-1', typ: 'JWT' })
    .setIssuer(IDENTITY.issuer)
    .setAudience(IDENTITY.audience)
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(privateKey);
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(jwks);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    token,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * tokenmeter as in the main scenarios, plus who is calling: the API verifies a JWT (RS256, JWKS
 * cached after the first call), the user comes from its `oid` claim, and five custom dimensions
 * (two JWT claims, two headers, one subscription field) are evaluated and emitted per call.
 */
async function startIdentityGateway(
  fastUrl: string,
  jwksUrl: string,
): Promise<{ urls: Record<string, string>; close: Closer }> {
  const dir = mkdtempSync(join(tmpdir(), 'tokenmeter-bench-identity-'));
  const config = configSchema.parse({
    gateway: { id: 'gw-bench', location: 'bench', host: '127.0.0.1', port: 0 },
    ledger: `sqlite:${join(dir, 'ledger.db')}`,
    backends: [{ id: 'simulator', type: 'openai', url: `${fastUrl}/v1`, apiKey: 'sk-bench-upstream' }],
    apis: [
      {
        id: 'openai',
        path: '/openai/v1',
        type: 'openai',
        backend: 'simulator',
        auth: { jwt: { issuer: IDENTITY.issuer, audience: IDENTITY.audience, jwksUrl, userClaim: 'oid' } },
      },
    ],
    products: [{ id: 'bench', apis: ['openai'] }],
    subscriptions: [{ id: 'bench-team', key: BENCH_KEY, product: 'bench', costCenter: 'CC-BENCH' }],
    tokenMetrics: [
      {
        namespace: 'tokenmeter',
        dimensions: [
          'API ID',
          'Operation ID',
          'Subscription ID',
          'model',
          'backend',
          { name: 'appId', value: 'jwt.claims.appid' },
          { name: 'tenant', value: 'jwt.claims.tid' },
          { name: 'team', value: "request.headers['x-team']" },
          { name: 'channel', value: "request.headers['x-channel']", default: 'unknown' },
          { name: 'costCenter', value: 'subscription.costCenter' },
        ],
      },
    ],
  });
  return startBenchGateway(config, dir);
}

/** Starts a gateway whose ledger lives in `dir`; closing it removes `dir`. */
async function startBenchGateway(
  config: Config,
  dir: string,
): Promise<{ urls: Record<string, string>; close: Closer }> {
  const { startGateway } = await import('../src/gateway/server.js');
  const gateway = await startGateway(config);
  return {
    urls: { gateway: gateway.url },
    close: async () => {
      await gateway.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) resolve();
    else process.send(message, () => resolve());
  });
}

async function main(): Promise<void> {
  const [role, ...args] = process.argv.slice(2);
  if (role !== 'upstream' && role !== 'bare' && role !== 'gateway' && role !== 'gateway-identity') {
    throw new Error(`unknown role ${String(role)}`);
  }
  let close: Closer | undefined;
  const stop = async (): Promise<void> => {
    await close?.().catch(() => undefined);
    process.exit(0);
  };
  process.on('message', (message) => {
    if (message === 'stop') void stop();
  });
  process.on('disconnect', () => void stop());
  try {
    const started = await start(role, args);
    close = started.close;
    await send({ type: 'ready', urls: started.urls });
  } catch (err) {
    await send({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
}

await main();
