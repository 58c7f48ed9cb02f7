import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openLedger, type Ledger } from '../../src/ledger/ledger.js';
import type { UsageRow } from '../../src/reports/usage-query.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { planCalls, runTraffic, trafficGatewayConfig, type CallResult } from '../helpers/mixed-traffic.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

// Issue #11, item 7: three gateway processes share one PostgreSQL ledger; 5,000 mixed calls
// (OpenAI, Anthropic, Gemini; streamed and not) with 5 % client aborts and 5 % upstream errors.
// The ledger's totals equal the simulator's own totals for the answers it finished, and every
// call is in the ledger exactly once.

const CALLS = 5000;

let db: TestDatabase;
let sim: Simulator;
let dir: string;
const gateways: GatewayProcess[] = [];
let ledger: Ledger | undefined;

before(async () => {
  db = await createTestDatabase();
  sim = await startSimulator({ completionTokens: 24, tokensPerSecond: 2000 });
  dir = mkdtempSync(join(tmpdir(), 'tm-fleet-'));
  for (let i = 1; i <= 3; i++) {
    const gwDir = mkdtempSync(join(dir, `gw-${i}-`));
    const config = { ...trafficGatewayConfig(sim.url, `gw-${i}`), ledger: { outbox: join(gwDir, 'outbox') } };
    gateways.push(await startGatewayProcess(config, { dir: gwDir, ledgerUrl: db.url }));
  }
});

after(async () => {
  await Promise.all(gateways.map((gw) => gw.kill('SIGKILL')));
  await ledger?.close();
  await sim.close();
  await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

const sum = (rows: readonly UsageRow[], field: 'promptTokens' | 'completionTokens' | 'totalTokens'): number =>
  rows.reduce((total, row) => total + (row[field] ?? 0), 0);

test('three gateways on one PostgreSQL ledger: every call once, totals equal the upstream', async () => {
  const calls = planCalls(CALLS, { seed: 7, failShare: 0.05, abortShare: 0.05 });
  const results: CallResult[] = await runTraffic(
    gateways.map((gw) => gw.url),
    calls,
    24,
  );
  const failed = results.filter((r) => r.outcome === 'failed');
  assert.deepEqual(failed.slice(0, 5), [], `${failed.length} calls failed`);
  const outcomes = new Map<string, number>();
  for (const r of results) outcomes.set(r.outcome, (outcomes.get(r.outcome) ?? 0) + 1);
  // The plan holds all three kinds of call in the shares asked for.
  assert.ok((outcomes.get('aborted') ?? 0) > CALLS * 0.03, JSON.stringify([...outcomes]));
  assert.ok((outcomes.get('upstream-error') ?? 0) > CALLS * 0.03, JSON.stringify([...outcomes]));

  // SIGTERM: each gateway drains and flushes its outbox to PostgreSQL before it exits.
  await Promise.all(gateways.map((gw) => gw.stop()));

  ledger = openLedger(db.url);
  const rows = await ledger.query({ by: ['user'], where: [] });
  const byCall = new Map(rows.map((row) => [String(row['user']), row]));

  // No duplicates: one record per call id, and one per call.
  const doubled = rows.filter((row) => row.requests !== 1);
  assert.deepEqual(doubled.slice(0, 5), [], `${doubled.length} calls recorded more than once`);
  assert.equal(rows.length, CALLS);

  for (const result of results) {
    const row = byCall.get(result.call.id);
    assert.ok(row, `call ${result.call.id} (${result.outcome}) is not in the ledger`);
    if (result.outcome === 'completed') {
      assert.equal(row.partialRequests, 0, `completed call ${result.call.id} recorded as partial`);
      assert.ok((row.totalTokens ?? 0) > 0, `completed call ${result.call.id} has no tokens`);
    }
    if (result.outcome === 'upstream-error') assert.equal(row.totalTokens ?? 0, 0);
  }

  // The simulator counts the answers it finished sending; the gateway recorded those with the
  // provider's usage (not partial). An aborted call the simulator had finished anyway is on
  // both sides.
  const finished = rows.filter((row) => row.partialRequests === 0);
  const upstream = sim.stats();
  assert.deepEqual(
    {
      promptTokens: sum(finished, 'promptTokens'),
      completionTokens: sum(finished, 'completionTokens'),
      totalTokens: sum(finished, 'totalTokens'),
    },
    {
      promptTokens: upstream.promptTokens,
      completionTokens: upstream.completionTokens,
      totalTokens: upstream.totalTokens,
    },
  );
});
