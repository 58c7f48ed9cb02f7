import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import postgres from 'postgres';
import { createPostgresLedger, type PostgresLedger } from '../../src/ledger/postgres/pg-ledger.js';
import type { UsageRecord } from '../../src/ledger/record.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import type { UsageQuery } from '../../src/reports/usage-query.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { maybe, recordArbitrary } from './fixtures/record-arbitrary.js';
import { assertSameRows } from './fixtures/same-rows.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Four days around the end of a month (and of a DST change in Europe), and later months. */
const BASE = Date.UTC(2025, 2, 30);
const SPAN = 4 * DAY;
const MONTH_SHIFTS = [0, 0, 0, 35 * DAY, 70 * DAY, 800 * DAY];

const timeArb = fc
  .tuple(
    fc.oneof(
      fc.integer({ min: 0, max: SPAN - 1 }),
      fc
        .tuple(fc.integer({ min: 0, max: 4 * 24 }), fc.constantFrom(-1, 0, 1, HOUR - 1))
        .map(([h, d]) => Math.min(SPAN - 1, Math.max(0, h * HOUR + d))),
    ),
    fc.constantFrom(...MONTH_SHIFTS),
  )
  .map(([t, shift]) => BASE + t + shift);

const recordArb = recordArbitrary(timeArb, {
  subscriptions: ['team-a', 'team-b', 'Team-C', 'équipe'],
  teams: ['x', 'y', 'Z'],
});

const DIMENSIONS = ['subscription', 'user', 'ip', 'model', 'operation', 'stream', 'team', 'custom.env'];
const FILTER_VALUES: Record<string, string[]> = {
  subscription: ['team-a', 'team-b', 'équipe', ''],
  user: ['ann', ''],
  ip: ['10.0.0.1', ''],
  model: ['gpt-4o', ''],
  operation: ['embeddings'],
  stream: ['true', 'false'],
  team: ['x', ''],
  'custom.env': ['prod', ''],
  priced: ['true', 'false'],
};

const boundArb = fc.oneof(
  timeArb,
  fc.constantFrom(BASE - DAY, BASE + DAY, BASE + 3 * DAY, BASE + 9 * DAY, BASE + 100 * DAY),
);

const queryArb: fc.Arbitrary<UsageQuery> = fc
  .record({
    by: fc.subarray(DIMENSIONS, { maxLength: 3 }),
    where: fc.array(
      fc
        .constantFrom(...Object.keys(FILTER_VALUES))
        .chain((dim) => fc.constantFrom(...(FILTER_VALUES[dim] ?? [])).map((value) => ({ dim, value }))),
      { maxLength: 3 },
    ),
    a: maybe(boundArb),
    b: maybe(boundArb),
    interval: maybe(fc.constantFrom(HOUR, DAY, 2 * HOUR, 15 * 60_000, 2 * DAY, 30 * DAY)),
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

describe('the PostgreSQL ledger answers as the SQLite ledger does', () => {
  let db: TestDatabase;
  let ledger: PostgresLedger;
  let admin: postgres.Sql;
  before(async () => {
    db = await createTestDatabase();
    ledger = createPostgresLedger(db.url);
    admin = postgres(db.url, { max: 1, onnotice: () => {} });
    assert.equal(await ledger.count(), 0); // migrates the schema
  });
  after(async () => {
    await ledger.close();
    await admin.end();
    await db.drop();
  });

  it('query, dimensionValues and subscriptionTotals equal SQLite for random records, batches and queries', async () => {
    let rollupPieces = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(recordArb, { minLength: 1, maxLength: 120 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 5 }),
        fc.array(queryArb, { minLength: 1, maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        async (records, sizes, queries, duplicates) => {
          await admin`TRUNCATE usage_records, usage_rollup_hour, usage_rollup_core_hour, usage_rollup_day, usage_custom_names`;
          const unique = records.map((r, i) => ({ ...r, id: `r${i}` }));
          const all = [...unique];
          // Re-shipped records anywhere in the stream, also within one batch.
          for (const d of duplicates) all.push(unique[d % unique.length] as UsageRecord);
          const sqlite = createSqliteLedger(':memory:');
          try {
            let at = 0;
            for (let i = 0; at < all.length; i += 1) {
              const size = Math.max(1, sizes[i % sizes.length] ?? 1);
              const batch = all.slice(at, at + size);
              await ledger.appendBatch(batch);
              await sqlite.appendBatch(batch);
              at += size;
            }
            assert.equal(await ledger.count(), await sqlite.count());
            assert.deepEqual(await ledger.customDimensionNames(), await sqlite.customDimensionNames());
            for (const query of queries) {
              rollupPieces += ledger.planUsage(query).filter((p) => p.source !== 'raw').length;
              assertSameRows(await ledger.query(query), await sqlite.query(query), query);
              const name = query.by[0] ?? 'subscription';
              assert.deepEqual(
                await ledger.dimensionValues(name, query, 50),
                await sqlite.dimensionValues(name, query, 50),
                JSON.stringify({ name, query }),
              );
              const range = { since: query.since ?? 0, until: query.until ?? BASE + 1000 * DAY };
              const subs = ['team-a', 'équipe', 'nobody'];
              const [pg, lite] = [
                await ledger.subscriptionTotals(range, subs),
                await sqlite.subscriptionTotals(range, subs),
              ];
              assert.deepEqual([...pg.keys()].sort(), [...lite.keys()].sort());
              for (const [sub, totals] of lite) {
                assert.equal(pg.get(sub)?.tokens, totals.tokens);
                assert.ok(Math.abs((pg.get(sub)?.cost ?? NaN) - totals.cost) <= 1e-6);
              }
            }
          } finally {
            await sqlite.close();
          }
        },
      ),
      { numRuns: 30 },
    );
    assert.ok(rollupPieces > 0, 'some queries read rollups');
  });
});
