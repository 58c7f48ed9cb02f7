import { formatCount } from '../src/cli/progress-bar.js';
import { parseConfig } from '../src/config/load-config.js';
import type { UsageRecord } from '../src/ledger/record.js';
import { connectPostgres } from '../src/ledger/postgres/pg-connect.js';
import { createPostgresLedger, type PostgresLedger } from '../src/ledger/postgres/pg-ledger.js';
import { createCallPricer } from '../src/pricing/call-pricer.js';
import { generateTraffic } from '../src/synthetic/generate-traffic.js';
import { startPostgresServer, type PostgresServer } from '../scripts/postgres-server.mjs';
import { timeRuns, type Timing } from './ledger-dashboard.js';
import { BENCH_SHAPE, benchConfigText } from './ledger-fixtures.js';

/**
 * The PostgreSQL section of the ledger bench (issue #11): synthetic records shipped into a
 * PostgreSQL ledger with `appendBatch` in batches of SHIP_BATCH, one batch in flight at a time
 * as one gateway's outbox ships them, and the dashboard's 30-day daily query by subscription.
 *
 *   BENCH_LEDGER_PG=1              run it on a private server (Debian's PostgreSQL binaries)
 *   BENCH_LEDGER_PG_URL=postgres://…   run it against this server (a fresh database is created)
 *   BENCH_LEDGER_PG_RECORDS=2000000    records to generate (--quick: 200000)
 */

/** Records per appendBatch: what an outbox ships at once. */
const SHIP_BATCH = 2000;
const DAY_MS = 86_400_000;

export interface PgBenchResult {
  records: number;
  seconds: number;
  /** Records per second stored (the shipping rate of one instance). */
  rate: number;
  query: Timing;
}

/** A ledger sink for generateTraffic: one turn's appends become one appendBatch. */
function batchingSink(ledger: PostgresLedger): { append: (r: UsageRecord) => Promise<void> } {
  let batch: UsageRecord[] = [];
  let shipped: Promise<void> | undefined;
  return {
    append(record) {
      batch.push(record);
      shipped ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        const records = batch;
        batch = [];
        shipped = undefined;
        return ledger.appendBatch(records);
      });
      return shipped;
    },
  };
}

/** Runs `work` on a fresh database of the given server (or of a private one), then drops it. */
async function withServer<T>(work: (url: string) => Promise<T>): Promise<T> {
  const given = process.env.BENCH_LEDGER_PG_URL;
  let server: PostgresServer | undefined;
  const base = given !== undefined && given !== '' ? given : (server = await startPostgresServer()).url;
  const name = `tm_bench_${Date.now()}`;
  const admin = connectPostgres(base, { max: 1 });
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
    const url = new URL(base);
    url.pathname = `/${name}`;
    return await work(url.toString());
  } finally {
    if (server === undefined) await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
    await server?.destroy();
  }
}

/** Whether the PostgreSQL section runs (an env var asks for it). */
export function pgBenchWanted(): boolean {
  return process.env.BENCH_LEDGER_PG === '1' || (process.env.BENCH_LEDGER_PG_URL ?? '') !== '';
}

export async function runPgLedgerBench(
  records: number,
  queryRuns: number,
  progress: (message: string) => void,
): Promise<PgBenchResult> {
  return withServer(async (url) => {
    const config = parseConfig(benchConfigText('/unused.db'), 'bench.yaml');
    const ledger = createPostgresLedger(url);
    try {
      await ledger.count(); // migrates: not part of the shipping rate
      const now = Date.now();
      const started = performance.now();
      let reported = 0;
      await generateTraffic(
        {
          records,
          ...BENCH_SHAPE,
          now,
          gateway: config.gateway.id,
          location: config.gateway.location,
          products: config.products.map((p) => p.id),
        },
        {
          ledger: batchingSink(ledger),
          pricer: createCallPricer(config),
          batchSize: SHIP_BATCH,
          onProgress: (done) => {
            if (done - reported >= records / 10) {
              reported = done;
              progress(`postgres: ${formatCount(done)} records shipped`);
            }
          },
        },
      );
      const seconds = (performance.now() - started) / 1000;
      const query = await timeRuns(queryRuns, () =>
        ledger.query({
          by: ['subscription'],
          since: now - 30 * DAY_MS,
          until: now,
          interval: DAY_MS,
          where: [],
        }),
      );
      return { records, seconds, rate: records / seconds, query };
    } finally {
      await ledger.close();
    }
  });
}
