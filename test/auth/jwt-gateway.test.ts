// apis[].auth.jwt through a real gateway: a JWKS server on port 0 (a fake Entra ID tenant), an
// OpenAI-compatible simulator as the backend, the SQLite ledger read from its file. Every refused
// call must be refused before anything reaches the backend or the ledger.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import pino from 'pino';
import { generateKeyPair } from 'jose';
import { stringify } from 'yaml';
import { configSchema } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import {
  APP_IDS,
  AUDIENCE,
  entraClaims,
  hmacWithPublicKey,
  ISSUER,
  startIdentityProvider,
  unsecuredToken,
  type IdentityProvider,
} from '../helpers/identity-provider.js';
import { readLedgerRows } from '../helpers/ledger-rows.js';
import { CLI } from '../helpers/paths.js';

const KEY = 'key-team-apps-0001';
const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Who is calling?' }] };

let idp: IdentityProvider;
let sim: Simulator;
let gw: Gateway;
let dir: string;
let ledgerPath: string;
let rawConfig: Record<string, unknown>;

before(async () => {
  idp = await startIdentityProvider();
  sim = await startSimulator({ completionTokens: 5 });
  dir = mkdtempSync(join(tmpdir(), 'tokenmeter-jwt-'));
  ledgerPath = join(dir, 'ledger.db');
  const jwt = { issuer: ISSUER, audience: AUDIENCE, jwksUrl: idp.jwksUrl, userClaim: 'oid' };
  rawConfig = {
    ledger: `sqlite:${ledgerPath}`,
    backends: [{ id: 'sim', type: 'openai', url: `${sim.url}/v1`, apiKey: 'sk-upstream' }],
    apis: [
      { id: 'entra', path: '/entra/v1', type: 'openai', backend: 'sim', auth: { jwt } },
      {
        id: 'optional',
        path: '/optional/v1',
        type: 'openai',
        backend: 'sim',
        auth: { jwt: { ...jwt, required: false } },
      },
    ],
    products: [{ id: 'apps', apis: ['entra', 'optional'] }],
    subscriptions: [{ id: 'team-apps', key: KEY, product: 'apps' }],
    tokenMetrics: [
      {
        namespace: 'tm',
        dimensions: ['API ID', 'Subscription ID', { name: 'appId', value: 'jwt.claims.appid' }],
      },
    ],
  };
  gw = await startGateway(configSchema.parse(rawConfig), {
    port: 0,
    ledgerUrl: `sqlite:${ledgerPath}`,
    logger: pino({ level: 'silent' }),
  });
});

after(async () => {
  await gw.close();
  await sim.close();
  await idp.close();
});

interface Answer {
  status: number;
  code?: string | undefined;
  message?: string | undefined;
}

async function call(path: string, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(`${gw.url}${path}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(CHAT),
  });
  const body = (await res.json()) as { error?: { code?: string; message?: string } };
  return { status: res.status, code: body.error?.code, message: body.error?.message };
}

const withToken = (token: string): Record<string, string> => ({
  'api-key': KEY,
  authorization: `Bearer ${token}`,
});

/** Runs `send` and asserts that nothing reached the backend and nothing was billed. */
async function assertRefusedUnforwarded(send: () => Promise<Answer>): Promise<Answer> {
  const forwarded = sim.stats().requests;
  const billed = readLedgerRows(ledgerPath).length;
  const answer = await send();
  assert.equal(sim.stats().requests, forwarded, 'nothing may reach the backend');
  assert.equal(readLedgerRows(ledgerPath).length, billed, 'nothing may be billed');
  return answer;
}

describe('an API with auth.jwt', () => {
  it('serves a call with a valid Entra ID token and meters its appid', async () => {
    const before = readLedgerRows(ledgerPath).length;
    const answer = await call('/entra/v1', withToken(await idp.sign()));
    assert.equal(answer.status, 200);
    const rows = readLedgerRows(ledgerPath);
    assert.equal(rows.length, before + 1);
    const custom = JSON.parse(String(rows.at(-1)?.custom)) as Record<string, string>;
    assert.equal(custom.appId, APP_IDS.search);
    // The subscription key and the token stay at the gateway.
    const headers = sim.stats().lastRequest?.headers ?? {};
    assert.equal(headers.authorization, 'Bearer sk-upstream');
    assert.equal(headers['api-key'], undefined);

    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(metrics, new RegExp(`tm_requests_total\\{[^}]*appId="${APP_IDS.search}"`));
  });

  it('fetches the JWKS once for many calls with distinct tokens', async () => {
    const start = idp.fetches();
    for (let i = 0; i < 5; i += 1) {
      const token = await idp.sign({ kid: i % 2 === 0 ? 'rsa-1' : 'ec-1', claims: { jti: `c${i}` } });
      assert.equal((await call('/entra/v1', withToken(token))).status, 200);
    }
    assert.equal(idp.fetches(), start);
  });

  describe('refuses every bad token with 401 TM_UNAUTHORIZED, unforwarded and unbilled', () => {
    const now = (): number => Math.floor(Date.now() / 1000);
    const cases: [string, () => Promise<string>][] = [
      ['bad signature', async () => idp.sign({ signingKey: (await generateKeyPair('RS256')).privateKey })],
      ['expired', () => idp.sign({ claims: { exp: now() - 3600 } })],
      ['not yet valid', () => idp.sign({ claims: { nbf: now() + 3600 } })],
      ['wrong issuer', () => idp.sign({ claims: { iss: 'https://login.microsoftonline.com/other/v2.0' } })],
      ['wrong audience', () => idp.sign({ claims: { aud: 'api://someone-else' } })],
      ['alg: none', () => Promise.resolve(unsecuredToken(entraClaims(now())))],
      ['HS256 against the RSA key', () => hmacWithPublicKey(entraClaims(now()), idp.spki('rsa-1'), 'rsa-1')],
      ['malformed token', () => Promise.resolve('definitely.not.a-jwt')],
    ];
    for (const [name, makeToken] of cases) {
      it(name, async () => {
        const token = await makeToken();
        const answer = await assertRefusedUnforwarded(() => call('/entra/v1', withToken(token)));
        assert.equal(answer.status, 401);
        assert.equal(answer.code, 'TM_UNAUTHORIZED');
        assert.ok(!(answer.message ?? '').includes(token), 'the answer never repeats the token');
      });
    }

    it('unknown kid, after one refetch of the JWKS', async () => {
      const start = idp.fetches();
      const token = await idp.sign({ kid: 'rsa-2' });
      const answer = await assertRefusedUnforwarded(() => call('/entra/v1', withToken(token)));
      assert.equal(answer.status, 401);
      assert.equal(answer.code, 'TM_UNAUTHORIZED');
      assert.equal(idp.fetches() - start, 1, 'one refetch');
      // A flood of unknown kids does not hammer the identity provider.
      for (let i = 0; i < 3; i += 1) {
        const again = await call(
          '/entra/v1',
          withToken(await idp.sign({ kid: 'rsa-2', claims: { jti: `u${i}` } })),
        );
        assert.equal(again.code, 'TM_UNAUTHORIZED');
      }
      assert.equal(idp.fetches() - start, 1, 'rate-limited');
    });

    it('missing token', async () => {
      const answer = await assertRefusedUnforwarded(() => call('/entra/v1', { 'api-key': KEY }));
      assert.equal(answer.status, 401);
      assert.equal(answer.code, 'TM_UNAUTHORIZED');
    });

    it('a valid token without the subscription key', async () => {
      const token = await idp.sign();
      const answer = await assertRefusedUnforwarded(() =>
        call('/entra/v1', { authorization: `Bearer ${token}` }),
      );
      assert.equal(answer.status, 401);
      assert.equal(answer.code, 'TM_UNAUTHORIZED');
    });
  });

  it('counts the refusals on /metrics by API and code, and the JWT ones by the check that failed', async () => {
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    const value = (name: string, labels: string): number => {
      const line = metrics.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
      return line === undefined ? 0 : Number(line.split(' ').at(-1));
    };
    // The refusals above: 8 bad tokens, 4 unknown kids, a missing token, a missing key.
    assert.equal(value('tokenmeter_calls_refused_total', 'api="entra",code="TM_UNAUTHORIZED"'), 14);
    assert.equal(value('tokenmeter_jwt_rejected_total', 'api="entra",check="unknown-kid"'), 4);
    assert.equal(value('tokenmeter_jwt_rejected_total', 'api="entra",check="expired"'), 1);
    assert.equal(value('tokenmeter_jwt_rejected_total', 'api="entra",check="signature"'), 1);
    assert.equal(value('tokenmeter_jwt_rejected_total', 'api="entra",check="missing"'), 1);
    // A missing subscription key is refused before any JWT check: no JWT rejection for it.
    const checks = metrics.split('\n').filter((l) => l.startsWith('tokenmeter_jwt_rejected_total{'));
    assert.equal(
      checks.reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0),
      13,
    );
  });

  it('required: false serves a call without a token, and refuses a bad one', async () => {
    assert.equal((await call('/optional/v1', { 'api-key': KEY })).status, 200);
    const row = readLedgerRows(ledgerPath).at(-1);
    assert.equal(row?.api, 'optional');
    const expired = await idp.sign({ claims: { exp: Math.floor(Date.now() / 1000) - 3600 } });
    const answer = await assertRefusedUnforwarded(() => call('/optional/v1', withToken(expired)));
    assert.equal(answer.code, 'TM_UNAUTHORIZED');
    assert.equal((await call('/optional/v1', withToken(await idp.sign()))).status, 200);
  });

  it('works through the official openai SDK: the JWT as apiKey, the subscription key in api-key', async () => {
    const client = new OpenAI({
      baseURL: `${gw.url}/entra/v1`,
      apiKey: await idp.sign({ claims: { appid: APP_IDS.support, azp: APP_IDS.support } }),
      defaultHeaders: { 'api-key': KEY },
      maxRetries: 0,
    });
    const chat = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hello' }],
    });
    assert.ok((chat.usage?.total_tokens ?? 0) > 0);
    const row = readLedgerRows(ledgerPath).at(-1);
    assert.equal((JSON.parse(String(row?.custom)) as Record<string, string>).appId, APP_IDS.support);

    const expired = new OpenAI({
      baseURL: `${gw.url}/entra/v1`,
      apiKey: await idp.sign({ claims: { exp: Math.floor(Date.now() / 1000) - 3600 } }),
      defaultHeaders: { 'api-key': KEY },
      maxRetries: 0,
    });
    await assert.rejects(
      expired.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
      (err: unknown) => err instanceof OpenAI.AuthenticationError && err.code === 'TM_UNAUTHORIZED',
    );
  });

  it('tokenmeter usage --by appId groups the calls of each JWT application', async () => {
    for (const app of [APP_IDS.search, APP_IDS.support, APP_IDS.support]) {
      const token = await idp.sign({ claims: { appid: app, azp: app, jti: `${app}-${Math.random()}` } });
      assert.equal((await call('/entra/v1', withToken(token))).status, 200);
    }
    const configPath = join(dir, 'tokenmeter.yaml');
    writeFileSync(configPath, stringify(rawConfig));
    const result = spawnSync(
      process.execPath,
      [CLI, 'usage', '--config', configPath, '--by', 'appId', '--where', 'api=entra', '--format', 'json'],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(result.status, 0, result.stderr);
    const rows = JSON.parse(result.stdout) as { appId: string; requests: number }[];
    const byApp = new Map(rows.map((r) => [r.appId, r.requests]));
    const billed = readLedgerRows(ledgerPath).filter((r) => r.api === 'entra');
    const count = (app: string): number =>
      billed.filter((r) => (JSON.parse(String(r.custom)) as Record<string, string>).appId === app).length;
    assert.equal(byApp.get(APP_IDS.search), count(APP_IDS.search));
    assert.equal(byApp.get(APP_IDS.support), count(APP_IDS.support));
    assert.ok(count(APP_IDS.support) >= 3);
    assert.equal(rows.length, 2, `only the two applications: ${result.stdout}`);
  });
});

describe('an identity provider that cannot be reached', () => {
  it('the gateway starts; calls get 503 TM_AUTH_UNAVAILABLE, unforwarded and unbilled', async () => {
    const config = configSchema.parse({
      ...rawConfig,
      apis: [
        {
          id: 'entra',
          path: '/entra/v1',
          type: 'openai',
          backend: 'sim',
          // Port 9 (discard): nothing listens there on a test machine.
          auth: { jwt: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: 'http://127.0.0.1:9/keys' } },
        },
      ],
      products: [{ id: 'apps', apis: ['entra'] }],
    });
    const down = await startGateway(config, {
      port: 0,
      ledgerUrl: `sqlite:${join(dir, 'down.db')}`,
      logger: pino({ level: 'silent' }),
    });
    try {
      const forwarded = sim.stats().requests;
      const res = await fetch(`${down.url}/entra/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...withToken(await idp.sign()) },
        body: JSON.stringify(CHAT),
      });
      assert.equal(res.status, 503);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'TM_AUTH_UNAVAILABLE');
      assert.equal(sim.stats().requests, forwarded);
      assert.equal(readLedgerRows(join(dir, 'down.db')).length, 0);
    } finally {
      await down.close();
    }
  });
});
