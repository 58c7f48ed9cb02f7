import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { TokenmeterError } from '../../src/errors.js';
import { openLedger } from '../../src/ledger/ledger.js';
import { connectPostgres } from '../../src/ledger/postgres/pg-connect.js';
import { createPostgresLedger, type PostgresLedger } from '../../src/ledger/postgres/pg-ledger.js';
import { migratePostgres, PG_MIGRATIONS } from '../../src/ledger/postgres/pg-migrations.js';
import { RECORD_SELECT } from '../../src/ledger/postgres/pg-append-sql.js';
import { monthOf } from '../../src/ledger/postgres/pg-partitions.js';
import { fromRow } from '../../src/ledger/sqlite-record-row.js';
import type { UsageRecord } from '../../src/ledger/record.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import type { UsageQuery } from '../../src/reports/usage-query.js';
import {
  createTestDatabase,
  startPrivatePostgres,
  withDatabase,
  type TestDatabase,
} from '../helpers/postgres.js';
import { makeRecord } from './fixtures/records.js';
import { assertSameRows } from './fixtures/same-rows.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2025, 4, 10, 9, 30);

/** Records over three days, several subscriptions, models and costs. */
function sampleRecords(count: number, prefix = 'r'): UsageRecord[] {
  return Array.from({ length: count }, (_, i) =>
    makeRecord({
      id: `${prefix}${i}`,
      time: T0 + ((i * 7_919_123) % (3 * DAY)),
      subscription: `team-${i % 3}`,
      model: i % 2 === 0 ? 'gpt-4o' : 'gpt-4o-mini',
      custom: i % 4 === 0 ? { team: `t${i % 5}` } : {},
      promptTokens: i % 50,
      completionTokens: i % 7,
      totalTokens: (i % 50) + (i % 7),
      ...(i % 3 === 0 ? {} : { cost: (i % 10) / 100 }),
    }),
  );
}

/** Closes the raw count and the rollups' count against each other and the expected figures. */
async function assertExact(admin: postgres.Sql, ledger: PostgresLedger, ids: number, tokens: number) {
  const [raw] = await admin<{ n: number; ids: number; tokens: number }[]>`
    SELECT COUNT(*)::int AS n, COUNT(DISTINCT id)::int AS ids, COALESCE(SUM(total_tokens), 0)::int AS tokens
    FROM usage_records`;
  assert.deepEqual(raw, { n: ids, ids, tokens });
  assert.equal(await ledger.count(), ids);
  // Whole days: answered from the day rollup only.
  const query: UsageQuery = { by: [], where: [], since: Date.UTC(2025, 4, 1), until: Date.UTC(2025, 5, 1) };
  assert.ok(ledger.planUsage(query).every((p) => p.source === 'day'));
  const [row] = await ledger.query(query);
  assert.equal(row?.requests, ids);
  assert.equal(row?.totalTokens, tokens);
}

describe('PostgreSQL ledger', () => {
  let db: TestDatabase;
  let ledger: PostgresLedger;
  let admin: postgres.Sql;
  before(async () => {
    db = await createTestDatabase();
    ledger = createPostgresLedger(db.url);
    admin = postgres(db.url, { max: 1, onnotice: () => {} });
    await ledger.count();
  });
  after(async () => {
    await ledger.close();
    await admin.end();
    await db.drop();
  });
  const reset = () =>
    admin`TRUNCATE usage_records, usage_rollup_hour, usage_rollup_core_hour, usage_rollup_day, usage_custom_names`;

  it('stores a provider-reported cost, token details and flags, and reads them back as written', async () => {
    await reset();
    const record = makeRecord({
      id: 'detailed',
      time: T0,
      providerCost: 0.00042,
      tokenDetails: { audioPromptTokens: 7, cachedAudioTokens: 2, audioCompletionTokens: 3 },
      flags: ['billed_counts_differ'],
    });
    const plain = makeRecord({ id: 'plain', time: T0 + 1 });
    await ledger.appendBatch([record, plain]);
    // The ledger's own connection settings: int8 counts read as numbers.
    const sql = connectPostgres(db.url);
    const rows = await sql.unsafe(`SELECT ${RECORD_SELECT} FROM usage_records ORDER BY id`);
    await sql.end();
    assert.deepEqual(
      rows.map((row) => fromRow(row as Record<string, unknown>)),
      [record, plain],
    );
  });

  it('re-appending a batch changes nothing', async () => {
    await reset();
    const records = sampleRecords(300);
    await ledger.appendBatch(records);
    const query: UsageQuery = { by: ['subscription', 'model', 'team'], where: [], interval: HOUR };
    const first = await ledger.query(query);
    await ledger.appendBatch(records);
    await ledger.appendBatch(records.slice(100, 150));
    await ledger.append(records[7] as UsageRecord);
    assert.deepEqual(await ledger.query(query), first);
    const tokens = records.reduce((sum, r) => sum + (r.totalTokens ?? 0), 0);
    await assertExact(admin, ledger, records.length, tokens);
  });

  it('three pools appending overlapping batches at once store every record once, rollups exact', async () => {
    await reset();
    const records = sampleRecords(3000, 'c');
    const pools = [0, 1, 2].map(() => createPostgresLedger(db.url));
    try {
      // Each pool ships overlapping windows, in a different order, in batches of 200.
      await Promise.all(
        pools.map(async (pool, p) => {
          const batches: UsageRecord[][] = [];
          for (let at = p * 500; at < records.length; at += 200) batches.push(records.slice(at, at + 250));
          if (p === 1) batches.reverse();
          await Promise.all(batches.map((batch) => pool.appendBatch(batch)));
        }),
      );
    } finally {
      await Promise.all(pools.map((pool) => pool.close()));
    }
    const tokens = records.reduce((sum, r) => sum + (r.totalTokens ?? 0), 0);
    await assertExact(admin, ledger, records.length, tokens);
    const sqlite = createSqliteLedger(':memory:');
    try {
      await sqlite.appendBatch(records);
      for (const query of [
        { by: ['subscription', 'model'], where: [], interval: DAY },
        { by: ['team'], where: [], since: T0 + HOUR / 3, until: T0 + 2 * DAY + 5 },
      ])
        assertSameRows(await ledger.query(query), await sqlite.query(query), query);
    } finally {
      await sqlite.close();
    }
  });

  it('creates a partition per UTC month on demand, also years away', async () => {
    await reset();
    const times = [
      Date.UTC(2024, 11, 31, 23, 59),
      Date.UTC(2025, 0, 1),
      Date.UTC(2025, 1, 14),
      Date.UTC(2031, 6, 1),
    ];
    await ledger.appendBatch(times.map((time, i) => makeRecord({ id: `p${i}`, time })));
    const rows = await admin<{ name: string; bound: string }[]>`
      SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'usage_records'::regclass`;
    const names = new Set(rows.map((r) => r.name));
    for (const time of times) {
      const month = monthOf(time);
      assert.ok(names.has(month.name), `${month.name} in ${[...names].join(', ')}`);
      const bound = rows.find((r) => r.name === month.name)?.bound ?? '';
      assert.ok(bound.includes(`('${month.from}')`) && bound.includes(`('${month.to}')`), bound);
    }
    assert.equal(monthOf(Date.UTC(2024, 11, 31, 23, 59)).name, 'usage_records_y2024m12');
    const byMonth = await ledger.query({ by: [], where: [], interval: 31 * DAY });
    assert.equal(
      byMonth.reduce((sum, r) => sum + r.requests, 0),
      times.length,
    );
    // Another instance meets the months it has not seen and finds them there.
    const other = createPostgresLedger(db.url);
    try {
      await other.appendBatch(times.map((time, i) => makeRecord({ id: `q${i}`, time: time + 1 })));
    } finally {
      await other.close();
    }
    assert.equal(await ledger.count(), 2 * times.length);
  });

  it('reprice updates costs and keeps the rollups exact, as SQLite does', async () => {
    await reset();
    const records = sampleRecords(500, 'x');
    await ledger.appendBatch(records);
    const sqlite = createSqliteLedger(':memory:');
    try {
      await sqlite.appendBatch(records);
      const range = { since: T0 + 5 * HOUR + 123, until: T0 + 2 * DAY };
      // Prices the mini model, unprices the other: records move between priced and unpriced.
      const price = (r: UsageRecord): number | undefined =>
        r.model === 'gpt-4o-mini' ? (r.totalTokens ?? 0) / 1000 : undefined;
      const result = await ledger.reprice(range, price);
      assert.deepEqual(result, await sqlite.reprice(range, price));
      assert.ok(result.changed > 0 && result.changed < result.records, JSON.stringify(result));
      assert.deepEqual(await ledger.reprice(range, price), { records: result.records, changed: 0 });
      for (const query of [
        { by: ['model'], where: [], interval: DAY },
        { by: ['subscription', 'team'], where: [{ dim: 'priced', value: 'false' }], interval: HOUR },
        { by: ['model'], where: [{ dim: 'priced', value: 'true' }] },
      ]) {
        assertSameRows(await ledger.query(query), await sqlite.query(query), query);
        assert.deepEqual(
          await ledger.dimensionValues('model', query, 10),
          await sqlite.dimensionValues('model', query, 10),
        );
      }
    } finally {
      await sqlite.close();
    }
  });

  it('refuses a record the database cannot store, and says it is the record', async () => {
    await reset();
    const bad = makeRecord({ id: 'nul', subscription: 'team\u0000a' });
    const err = await ledger.appendBatch([makeRecord({ id: 'ok' }), bad]).then(
      () => assert.fail('stored a NUL character'),
      (e: unknown) => e,
    );
    assert.equal(ledger.rejectsRecord(err), true);
    const outOfRange = await ledger.append(makeRecord({ id: 'big', promptTokens: 2 ** 70 })).then(
      () => assert.fail('stored 2^70'),
      (e: unknown) => e,
    );
    assert.equal(ledger.rejectsRecord(outOfRange), true);
    const noTime = await ledger.append(makeRecord({ id: 'nan', time: Number.NaN })).then(
      () => assert.fail('stored a NaN time'),
      (e: unknown) => e,
    );
    assert.equal(ledger.rejectsRecord(noTime), true);
    // Nothing of the failed batches was kept.
    assert.equal(await ledger.count(), 0);
    assert.equal(ledger.rejectsRecord(new Error('connect ECONNREFUSED')), false);
  });

  it('answers TM_USAGE_ARGS for a bad query, as SQLite does', async () => {
    await assert.rejects(ledger.query({ by: ['no such!'], where: [] }), { code: 'TM_USAGE_ARGS' });
    await assert.rejects(ledger.dimensionValues('a b', { where: [] }, 5), { code: 'TM_USAGE_ARGS' });
  });
});

describe('PostgreSQL ledger migrations', () => {
  it('three pools migrating a new database at once apply each migration once', async () => {
    const db = await createTestDatabase();
    const pools = [0, 1, 2].map(() => connectPostgres(db.url));
    try {
      const applied = await Promise.all(pools.map((sql) => migratePostgres(sql)));
      const all = applied.flat().sort((a, b) => a - b);
      assert.deepEqual(
        all,
        PG_MIGRATIONS.map((m) => m.version),
      );
      const [first] = pools;
      const rows = await first!<
        { version: number }[]
      >`SELECT version FROM tokenmeter_schema_migrations ORDER BY version`;
      assert.deepEqual(
        rows.map((r) => r.version),
        PG_MIGRATIONS.map((m) => m.version),
      );
      assert.deepEqual(await migratePostgres(first!), []);
    } finally {
      await Promise.all(pools.map((sql) => sql.end()));
      await db.drop();
    }
  });
});

/** A port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

describe('PostgreSQL ledger out of reach', () => {
  const unavailable = (port: number) => (err: unknown) =>
    err instanceof TokenmeterError &&
    err.code === 'TM_LEDGER_UNAVAILABLE' &&
    err.message.includes(`127.0.0.1:${port}`) &&
    !err.message.includes('s3cret');

  it('rejects every method with TM_LEDGER_UNAVAILABLE naming host:port, never the password', async () => {
    const port = await closedPort();
    const ledger = openLedger(`postgres://tm:s3cret@127.0.0.1:${port}/tm`);
    try {
      await assert.rejects(ledger.count(), unavailable(port));
      await assert.rejects(ledger.appendBatch([makeRecord({ id: 'a' })]), unavailable(port));
      await assert.rejects(ledger.query({ by: [], where: [] }), unavailable(port));
      const err = await ledger.append(makeRecord({ id: 'b' })).catch((e: unknown) => e);
      assert.equal(ledger.rejectsRecord(err), false);
    } finally {
      await ledger.close();
    }
  });

  it('opening without calling a method leaves no rejection behind', async () => {
    const port = await closedPort();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const ledger = openLedger(`postgres://tm:s3cret@127.0.0.1:${port}/tm`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await ledger.close();
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    assert.deepEqual(unhandled, []);
  });

  it('refuses a malformed URL with TM_CONFIG_INVALID, without its password', () => {
    for (const url of ['postgres://tm:s3cret@[::1/tm', 'postgres://tm:s3cret@host:notaport/tm']) {
      assert.throws(
        () => openLedger(url),
        (err: unknown) =>
          err instanceof TokenmeterError &&
          err.code === 'TM_CONFIG_INVALID' &&
          !err.message.includes('s3cret'),
        url,
      );
    }
  });

  it('works once a server that was down at start is up', async () => {
    const server = await startPrivatePostgres();
    try {
      await server.stop();
      const ledger = createPostgresLedger(withDatabase(server.url, 'postgres'));
      try {
        await assert.rejects(ledger.count(), unavailable(server.port));
        await server.start();
        await ledger.append(makeRecord({ id: 'after' }));
        assert.equal(await ledger.count(), 1);
      } finally {
        await ledger.close();
      }
    } finally {
      await server.destroy();
    }
  });
});
