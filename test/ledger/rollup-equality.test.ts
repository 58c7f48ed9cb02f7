import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { UsageRecord } from '../../src/ledger/record.js';
import { createSqliteLedger, type SqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import type { UsageQuery } from '../../src/reports/usage-query.js';
import { makeTempDir } from './fixtures/records.js';
import { maybe, recordArbitrary } from './fixtures/record-arbitrary.js';
import { assertSameRows } from './fixtures/same-rows.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const BASE = Date.UTC(2025, 2, 30);
const SPAN = 4 * DAY;

/** Times over four days, often on or next to the edge of an hour or a day. */
const timeArb = fc.oneof(
  fc.integer({ min: 0, max: SPAN - 1 }).map((t) => BASE + t),
  fc
    .tuple(fc.integer({ min: 0, max: 4 * 24 }), fc.constantFrom(-1, 0, 1, HOUR - 1))
    .map(([h, d]) => Math.min(BASE + SPAN - 1, Math.max(BASE, BASE + h * HOUR + d))),
);

const recordArb = recordArbitrary(timeArb, {
  subscriptions: ['team-a', 'team-b', 'team-c'],
  teams: ['x', 'y'],
});

const DIMENSIONS = ['subscription', 'user', 'ip', 'model', 'operation', 'stream', 'team', 'custom.env'];
const FILTER_VALUES: Record<string, string[]> = {
  subscription: ['team-a', 'team-b', ''],
  user: ['ann', ''],
  ip: ['10.0.0.1', ''],
  model: ['gpt-4o', ''],
  operation: ['embeddings'],
  stream: ['true', 'false'],
  team: ['x', ''],
  'custom.env': ['prod', ''],
  priced: ['true', 'false'],
};

const queryArb: fc.Arbitrary<UsageQuery> = fc
  .record({
    by: fc.subarray(DIMENSIONS, { maxLength: 3 }),
    where: fc.array(
      fc
        .constantFrom(...Object.keys(FILTER_VALUES))
        .chain((dim) => fc.constantFrom(...(FILTER_VALUES[dim] ?? [])).map((value) => ({ dim, value }))),
      { maxLength: 3 },
    ),
    a: maybe(fc.oneof(timeArb, fc.constant(BASE + DAY), fc.constant(BASE - DAY))),
    b: maybe(fc.oneof(timeArb, fc.constant(BASE + 3 * DAY), fc.constant(BASE + 9 * DAY))),
    interval: maybe(fc.constantFrom(HOUR, DAY, 2 * HOUR, 15 * 60_000, 2 * DAY)),
  })
  .map(({ by, where, a, b, interval }) => {
    const [since, until] = a !== undefined && b !== undefined && a > b ? [b, a] : [a, b];
    return {
      by,
      where,
      ...(since !== undefined && { since }),
      ...(until !== undefined && until !== since && { until }),
      ...(interval !== undefined && { interval }),
    };
  });

/** The records with distinct ids (the arbitrary leaves them unset). */
const withIds = (records: UsageRecord[]): UsageRecord[] => records.map((r, i) => ({ ...r, id: `r${i}` }));

/** Appends in batches of random size: later batches may hold earlier times (late records). */
async function appendInBatches(ledger: SqliteLedger, records: UsageRecord[], sizes: number[]): Promise<void> {
  let at = 0;
  for (let i = 0; at < records.length; i += 1) {
    const size = Math.max(1, sizes[i % Math.max(1, sizes.length)] ?? 1);
    await Promise.all(records.slice(at, at + size).map((r) => ledger.append(r)));
    at += size;
  }
}

describe('rollups answer exactly as raw records do', () => {
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  let runs = 0;
  before(async () => {
    temp = await makeTempDir();
  });
  after(() => temp.cleanup());

  async function withLedgers(
    records: UsageRecord[],
    sizes: number[],
    check: (ledger: SqliteLedger, raw: SqliteLedger) => Promise<void>,
  ): Promise<void> {
    runs += 1;
    const path = join(temp.dir, `prop-${runs}.db`);
    const ledger = createSqliteLedger(path);
    // A second connection without rollups reads raw records only (and writes nothing).
    const raw = createSqliteLedger(path, { rollups: false });
    try {
      await appendInBatches(ledger, records, sizes);
      await check(ledger, raw);
    } finally {
      await raw.close();
      await ledger.close();
    }
  }

  it('query and dimensionValues equal the raw answer, with duplicates and late records', async () => {
    let rollupPieces = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(recordArb, { minLength: 1, maxLength: 120 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 5 }),
        fc.array(queryArb, { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        async (records, sizes, queries, duplicates) => {
          // Duplicate appends (a retried shipment) anywhere in the stream, also much later.
          const unique = withIds(records);
          const all = [...unique];
          for (const d of duplicates) all.push(unique[d % unique.length] as UsageRecord);
          await withLedgers(all, sizes, async (ledger, raw) => {
            for (const query of queries) {
              rollupPieces += ledger.planUsage(query).filter((p) => p.source !== 'raw').length;
              assertSameRows(await ledger.query(query), await raw.query(query), query);
              const name = query.by[0] ?? 'subscription';
              assert.deepEqual(
                await ledger.dimensionValues(name, query, 50),
                await raw.dimensionValues(name, query, 50),
                JSON.stringify({ name, query }),
              );
            }
          });
        },
      ),
      { numRuns: 40 },
    );
    assert.ok(rollupPieces > 0, 'some queries read rollups');
  });

  it('two connections writing with interleaved flushes and a crash stay equal', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ record: recordArb, writer: fc.nat(1), flush: fc.nat(4), crash: fc.nat(30) }), {
          minLength: 1,
          maxLength: 100,
        }),
        fc.array(queryArb, { minLength: 1, maxLength: 6 }),
        // A zero lease takes every other connection for dead (rebuilds, fencing); a long one
        // keeps even the crashed connections' hours live (read raw, never rebuilt).
        fc.constantFrom(0, 3_600_000),
        async (steps, queries, leaseMs) => {
          runs += 1;
          const path = join(temp.dir, `two-${runs}.db`);
          const open = (): SqliteLedger =>
            createSqliteLedger(path, { rollupFlushMs: 0, rollupLeaseMs: leaseMs });
          const writers = [open(), open()];
          const crashed: SqliteLedger[] = [];
          const raw = createSqliteLedger(path, { rollups: false });
          const check = async (ledger: SqliteLedger): Promise<void> => {
            for (const query of queries)
              assertSameRows(await ledger.query(query), await raw.query(query), query);
          };
          try {
            for (const [i, step] of steps.entries()) {
              const ledger = writers[step.writer] as SqliteLedger;
              await ledger.append({ ...step.record, id: `r${i}` });
              // Now and then a flush (recovering dead owners' hours), or a crash: the deltas
              // lost, the connection replaced by a new one.
              if (step.flush === 0) await ledger.flushRollups();
              if (step.crash === 0) {
                ledger.dropRollupDeltas();
                crashed.push(ledger);
                writers[step.writer] = open();
              }
            }
            // Unflushed deltas on both connections (and lost ones): exact still.
            await check(writers[0] as SqliteLedger);
            for (const ledger of writers) await ledger.flushRollups();
            await check(writers[1] as SqliteLedger);
            if (leaseMs === 0) {
              for (const ledger of writers) await ledger.flushRollups();
              assert.deepEqual(writers[0]?.planUsage({ by: [], where: [] }), [{ source: 'day' }]);
            }
          } finally {
            await raw.close();
            for (const ledger of [...crashed, ...writers]) await ledger.close();
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  it('reprice keeps them equal', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(recordArb, { minLength: 1, maxLength: 80 }),
        fc.array(queryArb, { minLength: 1, maxLength: 6 }),
        timeArb,
        timeArb,
        fc.double({ min: 0, max: 0.01, noNaN: true }),
        async (records, queries, a, b, rate) => {
          await withLedgers(withIds(records), [7], async (ledger, raw) => {
            await ledger.reprice({ since: Math.min(a, b), until: Math.max(a, b) + 1 }, (r) =>
              r.model === 'gpt-4o-mini' ? undefined : (r.promptTokens ?? 0) * rate,
            );
            for (const query of queries)
              assertSameRows(await ledger.query(query), await raw.query(query), query);
          });
        },
      ),
      { numRuns: 25 },
    );
  });
});
