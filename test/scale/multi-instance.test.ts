import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openLedger, type Ledger } from '../../src/ledger/ledger.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { planCalls, runTraffic, trafficGatewayConfig, type CallResult } from '../helpers/mixed-traffic.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

// Issue #11, item 7: three gateway processes share one PostgreSQL ledger; 5,000 mixed calls
// (OpenAI, Anthropic, Gemini; streamed and not) with 5 % client aborts and 5 % upstream errors.
// Every call is in the ledger exactly once, and for the calls that completed the ledger's counts
// equal, call by call and in total, what the simulator itself answered.

const CALLS = 5000;

let db: TestDatabase;
let sim: Simulator;
let dir: string;
const gateways: GatewayProcess[] = [];
let ledger: Ledger | undefined;
/** The usage the simulator counted for each answer it finished sending, by call id. */
const answered = new Map<string, { promptTokens: number; completionTokens: number }>();

before(async () => {
  db = await createTestDatabase();
  sim = await startSimulator({
    completionTokens: 24,
    tokensPerSecond: 2000,
    onAnswered: (request, usage) => answered.set(String(request.headers['x-call-id']), usage),
  });
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

  // The upstream's own figures for the completed calls, call by call and in total. (An aborted
  // call is left out: the simulator may have finished writing an answer the gateway then cut.)
  const completed = results.filter((r) => r.outcome === 'completed').map((r) => r.call.id);
  const ledgerTotals = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
  const upstreamTotals = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
  for (const id of completed) {
    const row = byCall.get(id);
    const upstream = answered.get(id);
    assert.ok(row && upstream, `completed call ${id}: ledger row and upstream answer`);
    assert.deepEqual(
      [row.promptTokens, row.completionTokens],
      [upstream.promptTokens, upstream.completionTokens],
      `call ${id}`,
    );
    ledgerTotals.promptTokens += row.promptTokens ?? 0;
    ledgerTotals.completionTokens += row.completionTokens ?? 0;
    ledgerTotals.totalTokens += row.totalTokens ?? 0;
    upstreamTotals.promptTokens += upstream.promptTokens;
    upstreamTotals.completionTokens += upstream.completionTokens;
    upstreamTotals.totalTokens += upstream.promptTokens + upstream.completionTokens;
  }
  assert.deepEqual(ledgerTotals, upstreamTotals);
  assert.ok(ledgerTotals.totalTokens > 0);
  // The upstream answered nothing else but the completed calls and some of the aborted ones.
  const aborted = new Set(results.filter((r) => r.outcome === 'aborted').map((r) => r.call.id));
  const finished = new Set(completed);
  const unexpected = [...answered.keys()].filter((id) => !finished.has(id) && !aborted.has(id));
  assert.deepEqual(unexpected, []);
});
