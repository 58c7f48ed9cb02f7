// Issue #8 end to end, every part together: a managed key created with the CLI, a JWT from a
// fake Entra ID tenant on an API that requires one, the User ID from the token's userClaim over a
// users.header header and the body, custom dimensions over JWT claims, subscription metadata and
// a header with a default, and the call's trace read back through the admin API.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/load-config.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import type { TraceJson } from '../../src/trace/call-trace.js';
import {
  APP_IDS,
  AUDIENCE,
  entraClaims,
  ISSUER,
  startIdentityProvider,
  USER_OID,
  type IdentityProvider,
} from '../helpers/identity-provider.js';
import { readLedgerRows } from '../helpers/ledger-rows.js';
import { pollUntil, runCli, runCliJson, type NewKeyJson } from './keys-cli.js';

const ADMIN_KEY = 'admin-key-who-is-calling';
const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Who is calling?' }] };

let idp: IdentityProvider;
let sim: Simulator;
let gw: Gateway;
let dir: string;
let configPath: string;
let ledgerPath: string;
let key: NewKeyJson;

before(async () => {
  idp = await startIdentityProvider();
  sim = await startSimulator({ completionTokens: 5 });
  dir = mkdtempSync(join(tmpdir(), 'tokenmeter-who-'));
  ledgerPath = join(dir, 'ledger.db');
  configPath = join(dir, 'tokenmeter.yaml');
  writeFileSync(
    configPath,
    stringify({
      gateway: { keyRefreshMs: 200 },
      ledger: `sqlite:${ledgerPath}`,
      admin: { key: ADMIN_KEY },
      backends: [{ id: 'sim', type: 'openai', url: `${sim.url}/v1`, apiKey: 'sk-upstream' }],
      apis: [
        {
          id: 'entra',
          path: '/entra/v1',
          type: 'openai',
          backend: 'sim',
          auth: { jwt: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: idp.jwksUrl, userClaim: 'oid' } },
        },
      ],
      products: [{ id: 'apps', apis: ['entra'] }],
      users: { header: 'x-user-id' },
      tokenMetrics: [
        {
          namespace: 'tm',
          dimensions: [
            'Subscription ID',
            'User ID',
            { name: 'appId', value: 'jwt.claims.appid' },
            { name: 'department', value: 'subscription.metadata.department' },
            { name: 'team', value: "request.headers['x-team']", default: 'unassigned' },
          ],
        },
      ],
    }),
  );
  gw = await startGateway(loadConfig(configPath), { port: 0, logger: pino({ level: 'silent' }) });
  key = await runCliJson<NewKeyJson>([
    'keys',
    'create',
    '--config',
    configPath,
    '--subscription',
    'research-apps',
    '--product',
    'apps',
    '--meta',
    'department=research',
  ]);
});

after(async () => {
  await gw.close();
  await sim.close();
  await idp.close();
});

async function chat(headers: Record<string, string>, body: object = CHAT): Promise<Response> {
  return fetch(`${gw.url}/entra/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

describe('who is calling, every part together', () => {
  it('bills the managed subscription, the JWT application and the token user, and traces how', async () => {
    const token = await idp.sign({ claims: entraClaims(Math.floor(Date.now() / 1000), APP_IDS.support) });
    const headers = { authorization: `Bearer ${token}`, 'api-key': key.key };
    // The key was created by another process: the gateway takes it within its refresh time.
    await pollUntil('the managed key is honoured', 5000, async () => {
      const res = await chat(headers);
      await res.arrayBuffer();
      return res.status === 200;
    });

    const res = await chat(
      { ...headers, 'x-user-id': 'header-user', 'x-tokenmeter-trace': ADMIN_KEY },
      { ...CHAT, user: 'body-user' },
    );
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const traceId = res.headers.get('x-tokenmeter-trace-id');
    assert.ok(traceId !== null, 'a trace id comes back with the admin key');

    const rows = readLedgerRows(ledgerPath);
    const row = rows.at(-1);
    assert.equal(row?.subscription, 'research-apps');
    assert.equal(row?.product, 'apps');
    // The verified token's userClaim outranks the users.header header and the body's user.
    assert.equal(row?.user, USER_OID);
    assert.deepEqual(JSON.parse(String(row?.custom)), {
      appId: APP_IDS.support,
      department: 'research',
      team: 'unassigned',
    });

    const traced = await fetch(`${gw.url}/admin/traces/${traceId}`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    assert.equal(traced.status, 200);
    const trace = (await traced.json()) as TraceJson;
    assert.equal(trace.state, 'completed');
    assert.deepEqual(trace.caller?.credential, { kind: 'managed-key', keyId: key.id });
    assert.equal(trace.caller?.jwt?.issuer, ISSUER);
    assert.equal(trace.caller?.jwt?.userClaim, 'oid');
    assert.deepEqual(trace.caller?.jwt?.claimsUsed, { oid: USER_OID, appid: APP_IDS.support });
    assert.deepEqual(trace.dimensions?.['user'], { value: USER_OID, source: 'jwt:oid' });
    assert.deepEqual(trace.dimensions?.['subscription'], {
      value: 'research-apps',
      source: `managed-key:${key.id}`,
    });
    assert.deepEqual(trace.custom?.['team'], { value: 'unassigned', source: 'default' });
    assert.deepEqual(trace.subscription?.metadata, { department: 'research' });
    assert.equal(trace.record?.id, row?.id);
    // Neither the token nor a key appears anywhere in the trace.
    const text = JSON.stringify(trace);
    for (const secret of [token, key.key, ADMIN_KEY]) assert.ok(!text.includes(secret));
  });

  it('groups the ledger by JWT application and by token user', async () => {
    const search = await idp.sign({ claims: entraClaims(Math.floor(Date.now() / 1000), APP_IDS.search) });
    const res = await chat({ authorization: `Bearer ${search}`, 'api-key': key.key });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const byApp = await runCli(['usage', '--config', configPath, '--by', 'appId', '--format', 'json']);
    assert.equal(byApp.status, 0, byApp.stderr);
    const apps = (JSON.parse(byApp.stdout) as { appId: string; requests: number }[])
      .map((r) => r.appId)
      .sort();
    assert.deepEqual(apps, [APP_IDS.search, APP_IDS.support].sort());
    const byUser = await runCli(['usage', '--config', configPath, '--by', 'user', '--format', 'json']);
    assert.deepEqual(
      (JSON.parse(byUser.stdout) as { user: string }[]).map((r) => r.user),
      [USER_OID],
    );
  });
});
