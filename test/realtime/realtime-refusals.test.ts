import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { WebSocket } from 'ws';
import { configSchema } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import {
  AUDIENCE,
  ISSUER,
  USER_OID,
  startIdentityProvider,
  type IdentityProvider,
} from '../helpers/identity-provider.js';
import { lockLedger } from '../helpers/ledger-lock.js';
import { readLedgerRows } from '../helpers/ledger-rows.js';
import { closed, type ServerEvent } from './realtime-helpers.js';

/**
 * The refusals a Realtime upgrade shares with HTTP calls, beyond keys and paths
 * (realtime-bad-input.test.ts): a ledger that cannot record (`whenUnavailable: refuse`) and an
 * API whose callers must also carry a JWT. Each is answered before the upgrade, as plain HTTP,
 * and nothing reaches the upstream.
 */

const KEY = 'key-team-refusals-1';
const silent = pino({ level: 'silent' });

/** The HTTP answer to an upgrade the gateway refused. */
function refusal(ws: WebSocket): Promise<{ status: number; code: string }> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('error', () => undefined);
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          code: (JSON.parse(body) as { error: { code: string } }).error.code,
        }),
      );
    });
  });
}

/** Opens a session, asks for one response, and resolves with its response.done. */
async function oneResponse(url: string, headers: Record<string, string>): Promise<ServerEvent> {
  const ws = new WebSocket(url, { headers });
  const done = new Promise<ServerEvent>((resolve) => {
    ws.on('message', (data: Buffer) => {
      const event = JSON.parse(data.toString()) as ServerEvent;
      if (event.type === 'response.done') resolve(event);
    });
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ type: 'response.create' }));
  const event = await done;
  const end = closed(ws);
  ws.close(1000);
  await end;
  return event;
}

describe('Realtime upgrades refused like HTTP calls', () => {
  let dir: string;
  let sim: Simulator;
  let idp: IdentityProvider;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tokenmeter-realtime-refusals-'));
    sim = await startSimulator({ completionTokens: 6 });
    idp = await startIdentityProvider();
  });
  after(async () => {
    await idp.close();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(name: string, jwt: boolean): Promise<{ gw: Gateway; ledgerPath: string }> {
    const ledgerPath = join(dir, `${name}.db`);
    const config = configSchema.parse({
      ledger: { url: `sqlite:${ledgerPath}`, whenUnavailable: 'refuse' },
      backends: [{ id: 'sim', type: 'openai', url: `${sim.url}/v1`, apiKey: 'sk-upstream' }],
      apis: [
        {
          id: 'openai',
          path: '/openai/v1',
          type: 'openai',
          backend: 'sim',
          ...(jwt
            ? {
                auth: { jwt: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: idp.jwksUrl, userClaim: 'oid' } },
              }
            : {}),
        },
      ],
      products: [{ id: 'std', apis: ['openai'] }],
      subscriptions: [{ id: 'team-rt', key: KEY, product: 'std' }],
    });
    // A short busy timeout, so that a held lock fails the commit fast (ledger-unavailable.test.ts).
    const ledger = createSqliteLedger(ledgerPath, { busyTimeoutMs: 100 });
    return { gw: await startGateway(config, { port: 0, logger: silent, ledger }), ledgerPath };
  }

  it('a ledger refusing to record: 503 TM_LEDGER_UNAVAILABLE before the upgrade, nothing upstream; served again once it writes', async () => {
    const { gw, ledgerPath } = await start('ledger', false);
    const url = `${gw.url.replace('http', 'ws')}/openai/v1/realtime?model=gpt-realtime`;
    const headers = { authorization: `Bearer ${KEY}` };
    const lock = lockLedger(ledgerPath);
    // The call that finds the ledger failing was answered already: its record goes to the journal.
    const first = await fetch(`${gw.url}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(first.status, 200);
    await first.arrayBuffer();
    const upstreamBefore = sim.stats().requests;
    assert.deepEqual(await refusal(new WebSocket(url, { headers })), {
      status: 503,
      code: 'TM_LEDGER_UNAVAILABLE',
    });
    assert.equal(sim.stats().requests, upstreamBefore, 'no upgrade reached the upstream');

    lock.release();
    await gw.records.recover();
    const done = await oneResponse(url, headers);
    assert.equal((done['response'] as { status: string }).status, 'completed');
    await gw.close();
    const realtime = readLedgerRows(ledgerPath).filter((r) => r.operation === 'realtime');
    assert.equal(realtime.length, 1, 'the refused upgrade is not billed; the served one once');
  });

  it('an API that requires a JWT: a bad token gets 401 before the upgrade; a good one opens the session, the user from its claim', async () => {
    const { gw, ledgerPath } = await start('jwt', true);
    const url = `${gw.url.replace('http', 'ws')}/openai/v1/realtime?model=gpt-realtime`;
    const upstreamBefore = sim.stats().requests;
    const wrongAudience = await idp.sign({ claims: { aud: 'api://someone-else' } });
    for (const headers of [
      { 'api-key': KEY },
      { 'api-key': KEY, authorization: `Bearer ${wrongAudience}` },
      { 'api-key': KEY, authorization: 'Bearer not.a.jwt' },
    ]) {
      const answer = await refusal(new WebSocket(url, { headers }));
      assert.deepEqual(
        answer,
        { status: 401, code: 'TM_UNAUTHORIZED' },
        JSON.stringify(Object.keys(headers)),
      );
    }
    assert.equal(sim.stats().requests, upstreamBefore, 'no refused upgrade reached the upstream');

    await oneResponse(url, { 'api-key': KEY, authorization: `Bearer ${await idp.sign()}` });
    await gw.close();
    const rows = readLedgerRows(ledgerPath).filter((r) => r.operation === 'realtime');
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.user, USER_OID);
    assert.equal(rows[0]?.subscription, 'team-rt');
  });
});
