import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { stringify } from 'yaml';
import { configSchema } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import type { Simulator } from '../../src/simulator/index.js';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { readLedgerRows } from '../helpers/ledger-rows.js';
import { pollUntil, runCli, runCliJson, type NewKeyJson } from './keys-cli.js';

/** The promise: a create, revoke, rotation or expiry is honoured within 5 s. */
const HONOURED_MS = 5000;

const CONFIG = {
  backends: [{ id: 'sim', type: 'simulator' }],
  apis: [{ id: 'openai', path: '/openai/v1', type: 'openai', backend: 'sim' }],
  products: [{ id: 'standard', apis: ['openai'] }],
  subscriptions: [{ id: 'team-yaml', key: 'yaml-key-0001', product: 'standard' }],
  tokenMetrics: [
    {
      namespace: 'tm',
      dimensions: ['Subscription ID', { name: 'costCenter', value: 'subscription.costCenter' }],
    },
  ],
};

/** One chat call with `key`; its status and error code. */
async function call(url: string, key: string): Promise<{ status: number; code?: string }> {
  const res = await fetch(`${url}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'api-key': key },
    body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
  });
  const body = (await res.json()) as { error?: { code?: string } };
  return body.error?.code === undefined
    ? { status: res.status }
    : { status: res.status, code: body.error.code };
}

const works = (url: string, key: string) => async () => (await call(url, key)).status === 200;
const refused = (url: string, key: string) => async () => (await call(url, key)).status === 401;

describe('managed keys in a running gateway (in process; the CLI in a process)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tokenmeter-keys-gw-'));
  const ledgerPath = join(dir, 'ledger.db');
  const configPath = join(dir, 'tokenmeter.yaml');
  let gw: Gateway;
  let sim: Simulator;

  before(async () => {
    const config = { ...CONFIG, ledger: `sqlite:${ledgerPath}` };
    writeFileSync(configPath, stringify(config));
    gw = await startGateway(configSchema.parse(config), { port: 0, logger: pino({ level: 'silent' }) });
    sim = gw.simulators.get('sim') ?? assert.fail('no simulator');
  });
  after(() => gw.close());

  const keys = (...args: string[]) => runCliJson<NewKeyJson>(['keys', ...args, '--config', configPath]);

  /** Calls with `key` and asserts each got 401 TM_UNAUTHORIZED, reached no backend and was not billed. */
  async function assertRefusedUnbilled(key: string): Promise<void> {
    const rows = readLedgerRows(ledgerPath).length;
    const forwarded = sim.stats().requests;
    for (let i = 0; i < 3; i++)
      assert.deepEqual(await call(gw.url, key), { status: 401, code: 'TM_UNAUTHORIZED' });
    assert.equal(sim.stats().requests, forwarded, 'nothing forwarded');
    assert.equal(readLedgerRows(ledgerPath).length, rows, 'nothing billed');
  }

  it('a created key works within 5 s and bills its subscription; a revoked one is refused within 5 s', async () => {
    const created = await keys(
      'create',
      '--subscription',
      'team-new',
      '--product',
      'standard',
      '--cost-center',
      'CC-42',
    );
    await pollUntil('the new key works', HONOURED_MS, works(gw.url, created.key));
    const row = readLedgerRows(ledgerPath).at(-1);
    assert.equal(row?.['subscription'], 'team-new');
    assert.equal(row?.['product'], 'standard');
    assert.deepEqual(JSON.parse(String(row?.['custom'])), { costCenter: 'CC-42' });

    assert.equal((await runCli(['keys', 'revoke', created.id, '--config', configPath])).status, 0);
    await pollUntil('the revoked key is refused', HONOURED_MS, refused(gw.url, created.key));
    await assertRefusedUnbilled(created.key);
    assert.equal((await call(gw.url, 'yaml-key-0001')).status, 200, 'YAML keys are untouched');
  });

  it('a key created with --expires 2s works, then is refused once it expired', async () => {
    const created = await keys(
      'create',
      '--subscription',
      'team-exp',
      '--product',
      'standard',
      '--expires',
      '2s',
    );
    const expiresAt = Date.parse(created.expiresAt ?? assert.fail('no expiry'));
    await pollUntil('the new key works', HONOURED_MS, works(gw.url, created.key));
    await pollUntil(
      'the expired key is refused',
      expiresAt - Date.now() + HONOURED_MS,
      refused(gw.url, created.key),
    );
    assert.ok(Date.now() >= expiresAt, 'not refused before it expired');
    await assertRefusedUnbilled(created.key);
  });

  it('after a rotation the new key works within 5 s and the old one until its grace ends', async () => {
    const created = await keys('create', '--subscription', 'team-rot', '--product', 'standard');
    await pollUntil('the key works', HONOURED_MS, works(gw.url, created.key));
    const rotated = await keys('rotate', created.id, '--grace', '3s');
    const graceEnd = Date.parse(rotated.previousKeyWorksUntil ?? assert.fail('no grace end'));
    await pollUntil('the new key works', HONOURED_MS, works(gw.url, rotated.key));
    if (Date.now() < graceEnd - 500)
      assert.equal((await call(gw.url, created.key)).status, 200, 'in its grace');
    await pollUntil(
      'the old key is rotated out',
      graceEnd - Date.now() + HONOURED_MS,
      refused(gw.url, created.key),
    );
    assert.ok(Date.now() >= graceEnd, 'not refused before its grace ended');
    await assertRefusedUnbilled(created.key);
    assert.equal((await call(gw.url, rotated.key)).status, 200);
  });
});

describe('two tokenmeter serve processes sharing one ledger file', () => {
  let first: GatewayProcess;
  let second: GatewayProcess;

  before(async () => {
    first = await startGatewayProcess(CONFIG);
    second = await startGatewayProcess(CONFIG, { dir: first.dir });
  });
  after(async () => {
    await Promise.all([first.stop(), second.stop()]);
  });

  it('both honour a create and a revoke within 5 s', async () => {
    const created = await runCliJson<NewKeyJson>([
      'keys',
      'create',
      '--config',
      first.configPath,
      '--subscription',
      'team-shared',
      '--product',
      'standard',
    ]);
    await Promise.all(
      [first, second].map((gw) =>
        pollUntil(`${gw.url} accepts the key`, HONOURED_MS, works(gw.url, created.key)),
      ),
    );
    const billed = readLedgerRows(first.ledgerPath).filter((r) => r['subscription'] === 'team-shared');
    assert.ok(billed.length >= 2, 'each gateway billed its calls to the managed subscription');

    const revoke = await runCli(['keys', 'revoke', created.id, '--config', first.configPath]);
    assert.equal(revoke.status, 0, revoke.stderr);
    await Promise.all(
      [first, second].map((gw) =>
        pollUntil(`${gw.url} refuses the key`, HONOURED_MS, refused(gw.url, created.key)),
      ),
    );
    const rows = readLedgerRows(first.ledgerPath).length;
    for (const gw of [first, second])
      assert.deepEqual(await call(gw.url, created.key), { status: 401, code: 'TM_UNAUTHORIZED' });
    assert.equal(readLedgerRows(first.ledgerPath).length, rows, 'nothing billed');
  });
});
