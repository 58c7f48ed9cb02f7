import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPostgresServer } from '../scripts/postgres-server.mjs';
import { openLedger } from '../src/ledger/ledger.js';
import { startGatewayProcess, type GatewayProcess } from '../test/helpers/gateway-process.js';
import { TRAFFIC_KEY, trafficGatewayConfig } from '../test/helpers/mixed-traffic.js';
import { startServerProcess } from './children.js';
import { runLoad, type LoadResult } from './load.js';

/**
 * Scale-out benchmark (issue #11): three `tokenmeter serve` processes share one PostgreSQL
 * ledger (a private server started here); each commits records to its own outbox and ships them
 * to PostgreSQL in the background. autocannon loads the three at once (non-streamed chat, one
 * simulator process behind them); the ledger's record count is polled meanwhile. Figures: the calls the
 * clients completed per second, the records per second that reached PostgreSQL over the same
 * span, and how long after the load the last record arrived.
 *
 *   node --import tsx bench/multi-instance-bench.ts
 *   BENCH_FLEET_SECONDS=10 (default)   BENCH_FLEET_CONNECTIONS=16 (per gateway)
 *
 * All of it shares this machine's cores (three gateways, the simulator, autocannon and
 * PostgreSQL), so the figure is a floor for what three instances ship, not a ceiling.
 */

const seconds = Number(process.env.BENCH_FLEET_SECONDS ?? 10);
const connections = Number(process.env.BENCH_FLEET_CONNECTIONS ?? 16);
const GATEWAYS = 3;

function progress(message: string): void {
  process.stderr.write(`[multi-instance] ${message}\n`);
}

async function main(): Promise<void> {
  const pg = await startPostgresServer();
  // The simulator in a process of its own, as in the proxy bench: the load generator's event
  // loop must not be the bottleneck.
  const upstream = await startServerProcess('upstream', ['0']);
  const simUrl = upstream.urls.fast ?? '';
  const dir = mkdtempSync(join(tmpdir(), 'tm-fleet-bench-'));
  const gateways: GatewayProcess[] = [];
  try {
    for (let i = 1; i <= GATEWAYS; i++) {
      const gwDir = mkdtempSync(join(dir, `gw-${i}-`));
      const config = {
        ...trafficGatewayConfig(simUrl, `gw-${i}`),
        ledger: { outbox: join(gwDir, 'outbox') },
      };
      gateways.push(await startGatewayProcess(config, { dir: gwDir, ledgerUrl: pg.url }));
    }
    const ledger = openLedger(pg.url);
    await ledger.count(); // migrations done before the clock starts
    const body = JSON.stringify({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Write one short sentence about metering.' }],
    });
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${TRAFFIC_KEY}` };
    progress(`${GATEWAYS} gateways × ${connections} connections for ${seconds} s`);
    const startedAt = Date.now();
    const samples: { at: number; records: number }[] = [];
    let loading = true;
    const sampler = (async () => {
      while (loading) {
        samples.push({ at: Date.now() - startedAt, records: await ledger.count() });
        await sleep(500);
      }
    })();
    const results: LoadResult[] = await Promise.all(
      gateways.map((gw) =>
        runLoad(`${gw.url}/openai/v1/chat/completions`, { connections, seconds, body, headers }),
      ),
    );
    const loadEndedAt = Date.now() - startedAt;
    loading = false;
    await sampler;
    const completed = results.reduce((total, r) => total + r.ok, 0);
    const failed = results.reduce((total, r) => total + r.failed, 0);
    // Every completed call has a record; wait (at most 60 s) until PostgreSQL holds them all.
    let records = await ledger.count();
    while (records < completed && Date.now() - startedAt < loadEndedAt + 60_000) {
      await sleep(100);
      records = await ledger.count();
    }
    const lastAt = Date.now() - startedAt;
    const duringLoad = samples.filter((s) => s.at <= loadEndedAt).at(-1)?.records ?? 0;
    await ledger.close();

    const rows = [
      ['gateways', String(GATEWAYS)],
      ['calls completed (2xx)', String(completed)],
      ['calls failed', String(failed)],
      ['calls per second (all gateways)', (completed / (loadEndedAt / 1000)).toFixed(0)],
      [
        'records in PostgreSQL when the load ended',
        `${duringLoad} (${((100 * duringLoad) / completed).toFixed(1)} %)`,
      ],
      ['records per second shipped to PostgreSQL', (records / (lastAt / 1000)).toFixed(0)],
      ['last record in PostgreSQL after the load ended', `${((lastAt - loadEndedAt) / 1000).toFixed(2)} s`],
      ['records in PostgreSQL at the end', `${records} of ${completed}`],
    ];
    process.stdout.write(
      `\n## Scale-out: ${GATEWAYS} gateways, one PostgreSQL ledger\n\n` +
        `${connections} connections per gateway, ${seconds} s, non-streamed chat, one simulator.\n\n` +
        `| figure | value |\n| --- | --- |\n${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}\n`,
    );
  } finally {
    await Promise.all(gateways.map((gw) => gw.stop()));
    await upstream.stop();
    await pg.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
