import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openLedger } from '../../src/ledger/ledger.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { planCalls, runTraffic, trafficGatewayConfig, type CallResult } from '../helpers/mixed-traffic.js';
import { startPrivatePostgres, type PostgresServer } from '../helpers/postgres.js';

// Issue #11, item 6: faults of the shared ledger. Each gateway commits to its local outbox before
// a response ends and ships to PostgreSQL afterwards, so PostgreSQL going away (or never being
// there) must not touch a client, and every record must arrive once it is back.

let pg: PostgresServer;
let sim: Simulator;
let dir: string;
const started: GatewayProcess[] = [];

before(async () => {
  pg = await startPrivatePostgres();
  sim = await startSimulator({ completionTokens: 12, tokensPerSecond: 4000 });
  dir = mkdtempSync(join(tmpdir(), 'tm-pg-outage-'));
});

after(async () => {
  await Promise.all(started.map((gw) => gw.kill('SIGKILL')));
  await sim.close();
  await pg.destroy();
  rmSync(dir, { recursive: true, force: true });
});

async function startGateway(name: string): Promise<GatewayProcess> {
  const gwDir = mkdtempSync(join(dir, `${name}-`));
  const config = { ...trafficGatewayConfig(sim.url, name), ledger: { outbox: join(gwDir, 'outbox') } };
  const gw = await startGatewayProcess(config, { dir: gwDir, ledgerUrl: pg.url });
  started.push(gw);
  return gw;
}

async function readyz(gw: GatewayProcess): Promise<{ status: number; body: string }> {
  const res = await fetch(`${gw.url}/readyz`);
  return { status: res.status, body: await res.text() };
}

/** Waits until every call id is in the shared ledger (or the deadline passes) and returns the rows. */
async function waitForCalls(ids: readonly string[], deadlineMs: number) {
  const ledger = openLedger(pg.url);
  try {
    const until = Date.now() + deadlineMs;
    for (;;) {
      const rows = await ledger.query({ by: ['user'], where: [] }).catch(() => []);
      const seen = new Set(rows.map((row) => String(row['user'])));
      if (ids.every((id) => seen.has(id)) || Date.now() > until) return rows;
      await sleep(500);
    }
  } finally {
    await ledger.close();
  }
}

function assertExactlyOnce(
  results: readonly CallResult[],
  allRows: readonly Record<string, unknown>[],
): void {
  // The server keeps the records of the earlier test: look at this test's calls only.
  const ids = new Set(results.map((r) => r.call.id));
  const rows = allRows.filter((row) => ids.has(String(row['user'])));
  const failed = results.filter((r) => r.outcome !== 'completed');
  assert.deepEqual(failed.slice(0, 5), [], `${failed.length} calls did not complete for the client`);
  const byCall = new Map(rows.map((row) => [String(row['user']), row]));
  const missing = results.filter((r) => !byCall.has(r.call.id)).map((r) => r.call.id);
  assert.deepEqual(missing.slice(0, 5), [], `${missing.length} calls are missing from the ledger`);
  const doubled = rows.filter((row) => row['requests'] !== 1);
  assert.deepEqual(doubled.slice(0, 5), [], `${doubled.length} calls recorded more than once`);
  assert.equal(rows.length, results.length);
}

test('PostgreSQL stopped for 30 s under load: clients unaffected, every record arrives once it is back', async () => {
  const gw = await startGateway('gw-outage');
  const results: CallResult[] = [];
  let running = true;
  let round = 0;
  const load = (async () => {
    while (running) {
      const calls = planCalls(60, { seed: ++round, prefix: `outage-${round}` });
      results.push(...(await runTraffic([gw.url], calls, 6)));
    }
  })();
  await sleep(3000);
  await pg.stop();
  const stoppedAt = Date.now();
  await sleep(5000);
  const during = await readyz(gw);
  // Still serving: the outbox holds the records, and /readyz says where they wait.
  assert.equal(during.status, 200, during.body);
  assert.match(during.body, /unreachable/);
  await sleep(Math.max(0, 30_000 - (Date.now() - stoppedAt)));
  await pg.start();
  await sleep(3000);
  running = false;
  await load;
  assert.ok(results.length > 500, `only ${results.length} calls were made`);
  const rows = await waitForCalls(
    results.map((r) => r.call.id),
    45_000,
  );
  assertExactlyOnce(results, rows);
  await gw.stop();
});

test('PostgreSQL unreachable at start: the gateway starts, serves, says so, and ships once it is up', async () => {
  await pg.stop();
  const gw = await startGateway('gw-cold');
  const results = await runTraffic([gw.url], planCalls(120, { seed: 99, prefix: 'cold' }), 6);
  // Shipping is retried in the background; give it a first failure to report.
  await sleep(1500);
  const ready = await readyz(gw);
  assert.equal(ready.status, 200, ready.body);
  assert.match(ready.body, /unreachable/);
  assert.match(gw.stderr(), /unreachable|cannot reach|ECONNREFUSED/i);
  await pg.start();
  const rows = await waitForCalls(
    results.map((r) => r.call.id),
    45_000,
  );
  assertExactlyOnce(results, rows);
  await gw.stop();
});
