import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { isTokenmeterError } from '../../src/errors.js';
import type { BudgetAlertKey, ReportDeliveryKey } from '../../src/ledger/ledger.js';
import { createPgClaims, type PgClaims } from '../../src/ledger/postgres/pg-claims.js';
import { connectPostgres, type PgSql } from '../../src/ledger/postgres/pg-connect.js';
import { migratePostgres } from '../../src/ledger/postgres/pg-migrations.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

const LEASE = 60_000;

/** A port on 127.0.0.1 where nothing listens (free a moment ago): connections are refused. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

const alert = (overrides: Partial<BudgetAlertKey> = {}): BudgetAlertKey => ({
  subscription: 'team-a',
  month: '2026-01',
  unit: 'tokens',
  threshold: 50,
  channel: 'webhook',
  ...overrides,
});

const delivery = (overrides: Partial<ReportDeliveryKey> = {}): ReportDeliveryKey => ({
  month: '2026-03',
  channel: 'email',
  recipient: 'team-a',
  ...overrides,
});

/**
 * The claim semantics the budget tracker and `report --send` rely on, run on any backend: the
 * same script passes on SQLite (the reference) and PostgreSQL.
 */
function describeClaims(
  backend: string,
  open: () => Promise<{ claims: PgClaims; close(): Promise<void> }>,
): void {
  describe(`claims (${backend})`, () => {
    let fixture: { claims: PgClaims; close(): Promise<void> };
    let claims: PgClaims;
    before(async () => {
      fixture = await open();
      claims = fixture.claims;
    });
    after(() => fixture.close());

    it('a budget alert: one claimant, released on failure, sent for good, a stale claim taken over', async () => {
      const key = alert();
      const first = await claims.claimBudgetAlert(key, 1000, LEASE);
      assert.equal(first.state, 'claimed');
      assert.equal((await claims.claimBudgetAlert(key, 2000, LEASE)).state, 'busy');
      assert.equal((await claims.claimBudgetAlert(key, 1000 + LEASE - 1, LEASE)).state, 'busy');
      // The first claimant died: at the end of its lease another gateway takes the alert over.
      const stale = await claims.claimBudgetAlert(key, 1000 + LEASE, LEASE);
      assert.equal(stale.state, 'claimed');
      if (first.state !== 'claimed' || stale.state !== 'claimed') return;
      assert.notEqual(stale.claim, first.claim);
      // The first claimant lost its claim: its settlement (delivered or not) changes nothing.
      await claims.settleBudgetAlert(key, first.claim, true, 70_000);
      await claims.settleBudgetAlert(key, first.claim, false, 70_000);
      assert.equal((await claims.claimBudgetAlert(key, 70_001, LEASE)).state, 'busy');
      // A failed delivery releases the claim: the next attempt claims it at once.
      await claims.settleBudgetAlert(key, stale.claim, false, 70_002);
      const again = await claims.claimBudgetAlert(key, 70_003, LEASE);
      assert.equal(again.state, 'claimed');
      if (again.state !== 'claimed') return;
      await claims.settleBudgetAlert(key, again.claim, true, 70_004);
      assert.equal((await claims.claimBudgetAlert(key, 70_005, LEASE)).state, 'sent');
      assert.equal((await claims.claimBudgetAlert(key, 999_999_999, LEASE)).state, 'sent', 'sent for good');
      // Releasing a delivered alert's claim does not unsend it.
      await claims.settleBudgetAlert(key, again.claim, false, 999_999_999);
      assert.equal((await claims.claimBudgetAlert(key, 999_999_999, LEASE)).state, 'sent');
    });

    it('every part of an alert key is its own alert (threshold with a fraction, unit, channel, month)', async () => {
      const base = alert({ subscription: 'team-k', threshold: 80.5 });
      const first = await claims.claimBudgetAlert(base, 0, LEASE);
      assert.equal(first.state, 'claimed');
      if (first.state === 'claimed') await claims.settleBudgetAlert(base, first.claim, true, 1);
      assert.equal(
        (await claims.claimBudgetAlert(base, 2, LEASE)).state,
        'sent',
        'a fractional threshold matches',
      );
      for (const other of [
        { threshold: 80 },
        { unit: 'cost' as const },
        { channel: 'email' as const },
        { month: '2026-02' },
        { subscription: 'team-l' },
      ])
        assert.equal(
          (await claims.claimBudgetAlert({ ...base, ...other }, 2, LEASE)).state,
          'claimed',
          JSON.stringify(other),
        );
    });

    it('a report delivery: busy within the lease, sent once settled, again only with force', async () => {
      const key = delivery();
      const first = await claims.claimReportDelivery(key, 0, 1000, false);
      assert.equal(first.state, 'claimed');
      assert.equal((await claims.claimReportDelivery(key, 999, 1000, false)).state, 'busy');
      assert.equal(
        (await claims.claimReportDelivery(key, 999, 1000, true)).state,
        'busy',
        'force waits for a live claim',
      );
      const taken = await claims.claimReportDelivery(key, 1000, 1000, false);
      assert.equal(taken.state, 'claimed');
      if (first.state === 'claimed') await claims.settleReportDelivery(key, first.claim, true, 1001);
      assert.equal(
        (await claims.claimReportDelivery(key, 1999, 1000, false)).state,
        'busy',
        'a stale claim settles nothing',
      );
      if (taken.state === 'claimed') await claims.settleReportDelivery(key, taken.claim, false, 2001);
      const retried = await claims.claimReportDelivery(key, 2002, 1000, false);
      assert.equal(retried.state, 'claimed');
      if (retried.state === 'claimed') await claims.settleReportDelivery(key, retried.claim, true, 2003);
      assert.equal((await claims.claimReportDelivery(key, 2004, 1000, false)).state, 'sent');
      // A delivered row holds no claim: --force takes it over at once, and a failed forced
      // resend leaves it delivered.
      const forced = await claims.claimReportDelivery(key, 2004, 1000, true);
      assert.equal(forced.state, 'claimed');
      // Another forced claim meanwhile loses; the SQLite ledger (the reference) reports such a
      // row as `sent`, since it was delivered, rather than `busy`.
      assert.equal((await claims.claimReportDelivery(key, 2005, 1000, true)).state, 'sent');
      if (forced.state === 'claimed') await claims.settleReportDelivery(key, forced.claim, false, 2006);
      assert.equal((await claims.claimReportDelivery(key, 2007, 1000, false)).state, 'sent');
      const other = await claims.claimReportDelivery({ ...key, recipient: '' }, 2007, 1000, false);
      assert.equal(other.state, 'claimed', 'the webhook recipient is independent');
    });
  });
}

describeClaims('SQLite', () => {
  const ledger = createSqliteLedger(':memory:');
  return Promise.resolve({ claims: ledger, close: () => ledger.close() });
});

describeClaims('PostgreSQL', async () => {
  const db = await createTestDatabase();
  const sql = connectPostgres(db.url);
  return {
    claims: createPgClaims(sql, migratePostgres(sql)),
    async close() {
      await sql.end();
      await db.drop();
    },
  };
});

describe('PostgreSQL claims across connections', () => {
  const GATEWAYS = 6;
  let db: TestDatabase;
  let pools: PgSql[];
  let gateways: PgClaims[];
  before(async () => {
    db = await createTestDatabase();
    // One pool of one connection per "gateway"; all migrate at once (the advisory lock).
    pools = Array.from({ length: GATEWAYS }, () => connectPostgres(db.url, { max: 1 }));
    gateways = pools.map((sql) => createPgClaims(sql, migratePostgres(sql)));
  });
  after(async () => {
    await Promise.all(pools.map((sql) => sql.end()));
    await db.drop();
  });

  it('several connections claiming one new alert at once: exactly one claimed, the others busy', async () => {
    for (let round = 0; round < 20; round++) {
      const key = alert({ subscription: `race-${round}` });
      const states = (await Promise.all(gateways.map((g) => g.claimBudgetAlert(key, 1000, LEASE)))).map(
        (c) => c.state,
      );
      assert.equal(states.filter((s) => s === 'claimed').length, 1, `round ${round}: ${states.join(',')}`);
      assert.equal(states.filter((s) => s === 'busy').length, GATEWAYS - 1);
    }
  });

  it('racing take-overs of an expired claim, and of a released one: exactly one claimed', async () => {
    const key = alert({ subscription: 'takeover' });
    const first = await gateways[0]?.claimBudgetAlert(key, 0, LEASE);
    assert.equal(first?.state, 'claimed');
    const expired = await Promise.all(gateways.map((g) => g.claimBudgetAlert(key, LEASE, LEASE)));
    const winners = expired.filter((c) => c.state === 'claimed');
    assert.equal(winners.length, 1);
    const winner = winners[0];
    if (winner?.state !== 'claimed') return;
    await gateways[1]?.settleBudgetAlert(key, winner.claim, false, LEASE + 1);
    const released = await Promise.all(gateways.map((g) => g.claimBudgetAlert(key, LEASE + 2, LEASE)));
    assert.equal(released.filter((c) => c.state === 'claimed').length, 1);
  });

  it('racing forced resends of a delivered report: exactly one claimed', async () => {
    const key = delivery({ recipient: 'race' });
    const now = Date.parse('2026-04-01T06:00:00Z');
    const first = await gateways[0]?.claimReportDelivery(key, now, LEASE, false);
    if (first?.state !== 'claimed') return assert.fail('the first claim failed');
    await gateways[0]?.settleReportDelivery(key, first.claim, true, now + 1);
    const plain = await Promise.all(gateways.map((g) => g.claimReportDelivery(key, now + 2, LEASE, false)));
    assert.deepEqual(new Set(plain.map((c) => c.state)), new Set(['sent']));
    const forced = await Promise.all(gateways.map((g) => g.claimReportDelivery(key, now + 2, LEASE, true)));
    assert.equal(forced.filter((c) => c.state === 'claimed').length, 1, forced.map((c) => c.state).join(','));
    assert.equal(forced.filter((c) => c.state === 'sent').length, GATEWAYS - 1);
  });
});

describe('PostgreSQL claims: bad input', () => {
  it('an unreachable server: TM_LEDGER_UNAVAILABLE, without the password', async () => {
    const url = `postgres://tm:s3cret-pw@127.0.0.1:${await closedPort()}/tm`;
    const sql = connectPostgres(url, { connectTimeoutSec: 2 });
    // The ledger's migration fails too; the claims wait for it and report the same outage.
    const ready = migratePostgres(sql);
    ready.catch(() => {});
    const claims = createPgClaims(sql, ready);
    try {
      for (const call of [
        () => claims.claimBudgetAlert(alert(), 0, LEASE),
        () => claims.settleBudgetAlert(alert(), 'c', true, 0),
        () => claims.claimReportDelivery(delivery(), 0, LEASE, false),
        () => claims.settleReportDelivery(delivery(), 'c', false, 0),
      ]) {
        const err = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        assert.ok(isTokenmeterError(err), String(err));
        assert.equal(err.code, 'TM_LEDGER_UNAVAILABLE');
        assert.doesNotMatch(err.message, /s3cret/);
      }
    } finally {
      await sql.end();
    }
  });

  it('a key outside the schema (an unknown unit or channel) is refused by the database', async () => {
    const db = await createTestDatabase();
    const sql = connectPostgres(db.url);
    const claims = createPgClaims(sql, migratePostgres(sql));
    try {
      await assert.rejects(
        claims.claimBudgetAlert({ ...alert(), unit: 'bytes' } as unknown as BudgetAlertKey, 0, LEASE),
        /check constraint/,
      );
      await assert.rejects(
        claims.claimReportDelivery(
          { ...delivery(), channel: 'fax' } as unknown as ReportDeliveryKey,
          0,
          LEASE,
          false,
        ),
        /check constraint/,
      );
      const [row] = await sql<{ n: number }[]>`SELECT count(*) AS n FROM budget_alerts`;
      assert.equal(row?.n, 0);
    } finally {
      await sql.end();
      await db.drop();
    }
  });
});
