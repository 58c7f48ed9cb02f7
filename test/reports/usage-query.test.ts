import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { canonicalDimensionKey } from '../../src/dimensions/dimension-names.js';
import { isTokenmeterError } from '../../src/errors.js';
import type { Ledger } from '../../src/ledger/ledger.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { resolveUsageQuery, type UsageQuery } from '../../src/reports/usage-query.js';
import { makeRecord, makeTempDir, withoutFields } from '../ledger/fixtures/records.js';

const T0 = Date.UTC(2025, 0, 15, 10, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

const zero = {
  cachedTokens: 0,
  cacheWriteTokens: 0,
  reasoningTokens: 0,
  estimatedRequests: 0,
  partialRequests: 0,
  unpricedTokens: 0,
  unpricedRequests: 0,
};

function q(partial: Partial<UsageQuery>): UsageQuery {
  return { by: [], where: [], ...partial };
}

const usageArgs = (err: unknown): boolean => isTokenmeterError(err) && err.code === 'TM_USAGE_ARGS';

describe('usage queries on the SQLite ledger', () => {
  let ledger: Ledger;
  let cleanup: () => Promise<void>;

  before(async () => {
    const temp = await makeTempDir();
    cleanup = temp.cleanup;
    ledger = createSqliteLedger(join(temp.dir, 'query.db'));
    const records = [
      makeRecord({ id: 'a1', time: T0, model: 'gpt-4o', custom: { appId: 'web' }, cost: 0.1 }),
      makeRecord({ id: 'a2', time: T0 + 10 * MIN, model: 'gpt-4o', custom: { appId: 'web' }, cost: 0.2 }),
      makeRecord({
        id: 'a3',
        time: T0 + 2 * HOUR,
        model: 'gpt-4o-mini',
        stream: true,
        source: 'estimated',
        promptTokens: 7,
        custom: { appId: 'batch' },
      }),
      makeRecord({
        id: 'b1',
        time: T0 + 30 * MIN,
        subscription: 'team-b',
        model: 'gpt-4o',
        cachedTokens: 4,
        cost: 0.3,
      }),
      withoutFields(
        makeRecord({
          id: 'b2',
          time: T0 + DAY,
          subscription: 'team-b',
          model: 'gpt-4o-mini',
          source: 'partial',
        }),
        'completionTokens',
        'totalTokens',
      ),
      withoutFields(makeRecord({ id: 'n1', time: T0 + DAY + HOUR, model: 'gpt-4o' }), 'subscription'),
    ];
    for (const r of records) await ledger.append(r);
  });
  after(async () => {
    await ledger.close();
    await cleanup();
  });

  it('groups by one dimension and sums figures, NULL counts as 0 and unknown cost as null', async () => {
    const rows = await ledger.query(q({ by: ['subscription'] }));
    assert.deepEqual(rows, [
      {
        subscription: null,
        requests: 1,
        promptTokens: 10,
        completionTokens: 5,
        totalTokens: 15,
        ...zero,
        cost: null,
        // n1 has tokens and no price.
        unpricedTokens: 15,
        unpricedRequests: 1,
      },
      {
        subscription: 'team-a',
        requests: 3,
        promptTokens: 27,
        completionTokens: 15,
        totalTokens: 45,
        ...zero,
        estimatedRequests: 1,
        cost: 0.3,
        // a3 (its total) has no price.
        unpricedTokens: 15,
        unpricedRequests: 1,
      },
      {
        subscription: 'team-b',
        requests: 2,
        promptTokens: 20,
        completionTokens: 5,
        totalTokens: 15,
        ...zero,
        cachedTokens: 4,
        partialRequests: 1,
        cost: 0.3,
        // b2 has no price, and no total: its prompt tokens count.
        unpricedTokens: 10,
        unpricedRequests: 1,
      },
    ]);
  });

  it('groups by several dimensions, sorted by each in order', async () => {
    const rows = await ledger.query(q({ by: ['subscription', 'model', 'stream'] }));
    assert.deepEqual(
      rows.map((r) => [r['subscription'], r['model'], r['stream'], r.requests]),
      [
        [null, 'gpt-4o', false, 1],
        ['team-a', 'gpt-4o', false, 2],
        ['team-a', 'gpt-4o-mini', true, 1],
        ['team-b', 'gpt-4o', false, 1],
        ['team-b', 'gpt-4o-mini', false, 1],
      ],
    );
  });

  it('groups by a custom dimension read from the JSON column', async () => {
    const rows = await ledger.query(q({ by: ['appId'] }));
    assert.deepEqual(
      rows.map((r) => [r['appId'], r.requests]),
      [
        [null, 3],
        ['batch', 1],
        ['web', 2],
      ],
    );
  });

  it('accepts APIM names and canonical keys in any case, keyed by the canonical key', async () => {
    const rows = await ledger.query(q({ by: ['Subscription ID', 'API ID', 'RESPONSEMODEL'] }));
    assert.deepEqual(Object.keys(rows[0] ?? {}).slice(0, 3), ['subscription', 'api', 'responseModel']);
    assert.equal(canonicalDimensionKey('ip address'), 'ip');
    assert.equal(canonicalDimensionKey(' Gateway ID '), 'gateway');
    assert.equal(canonicalDimensionKey('appId'), undefined);
  });

  it('returns one total row without --by, and no rows when nothing matches', async () => {
    const [total, ...rest] = await ledger.query(q({}));
    assert.equal(rest.length, 0);
    assert.equal(total?.requests, 6);
    assert.equal(total?.cost, 0.6);
    assert.deepEqual(await ledger.query(q({ where: [{ dim: 'subscription', value: 'nobody' }] })), []);
  });

  it('filters with --where: OR within a dimension, AND across, empty value = absent', async () => {
    const ids = async (where: UsageQuery['where']): Promise<number | undefined> =>
      (await ledger.query(q({ where })))[0]?.requests;
    assert.equal(await ids([{ dim: 'subscription', value: 'team-a' }]), 3);
    assert.equal(
      await ids([
        { dim: 'subscription', value: 'team-a' },
        { dim: 'Subscription ID', value: 'team-b' },
      ]),
      5,
    );
    assert.equal(
      await ids([
        { dim: 'subscription', value: 'team-a' },
        { dim: 'model', value: 'gpt-4o' },
      ]),
      2,
    );
    assert.equal(await ids([{ dim: 'subscription', value: '' }]), 1);
    assert.equal(await ids([{ dim: 'stream', value: 'true' }]), 1);
    assert.equal(await ids([{ dim: 'appId', value: 'web' }]), 2);
    // A value is data, never SQL.
    assert.equal(await ids([{ dim: 'model', value: "gpt-4o' OR '1'='1" }]), undefined);
  });

  it('buckets by interval with the ISO start of each bucket (UTC-aligned)', async () => {
    const hourly = await ledger.query(q({ by: ['subscription'], interval: HOUR, until: T0 + DAY }));
    assert.deepEqual(
      hourly.map((r) => [r.time, r['subscription'], r.requests]),
      [
        ['2025-01-15T10:00:00.000Z', 'team-a', 2],
        ['2025-01-15T10:00:00.000Z', 'team-b', 1],
        ['2025-01-15T12:00:00.000Z', 'team-a', 1],
      ],
    );
    const daily = await ledger.query(q({ interval: DAY }));
    assert.deepEqual(
      daily.map((r) => [r.time, r.requests]),
      [
        ['2025-01-15T00:00:00.000Z', 4],
        ['2025-01-16T00:00:00.000Z', 2],
      ],
    );
    assert.equal(Object.keys(daily[0] ?? {})[0], 'time');
  });

  it('bounds by since (inclusive) and until (exclusive)', async () => {
    const count = async (since?: number, until?: number): Promise<number> => {
      const rows = await ledger.query(
        q({ ...(since !== undefined && { since }), ...(until !== undefined && { until }) }),
      );
      return rows[0]?.requests ?? 0;
    };
    assert.equal(await count(T0 + 10 * MIN), 5);
    assert.equal(await count(undefined, T0 + 10 * MIN), 1);
    assert.equal(await count(T0 + 10 * MIN, T0 + 30 * MIN), 1);
    assert.equal(await count(T0 + 2 * DAY), 0);
  });

  it('refuses unknown and injected dimension names with TM_USAGE_ARGS, before any SQL', async () => {
    for (const name of ["x'); drop table usage_records; --", 'no-such-dim', 'Foo ID', '', '$.appId', 'a.b']) {
      await assert.rejects(ledger.query(q({ by: [name] })), usageArgs, name);
      await assert.rejects(ledger.query(q({ where: [{ dim: name, value: 'x' }] })), usageArgs, name);
    }
    await assert.rejects(ledger.query(q({ where: [{ dim: 'stream', value: 'maybe' }] })), usageArgs);
    await assert.rejects(ledger.query(q({ by: ['requests'] })), usageArgs);
    await assert.rejects(ledger.query(q({ interval: 0 })), usageArgs);
    await assert.rejects(ledger.query(q({ since: 10, until: 10 })), usageArgs);
    assert.equal(await ledger.count(), 6);
  });

  it('reaches a custom dimension that shares a default name through custom.NAME', () => {
    const resolved = resolveUsageQuery(q({ by: ['model', 'custom.model', 'Model', 'custom.requests'] }));
    assert.deepEqual(resolved.by, [
      { kind: 'default', key: 'model', output: 'model' },
      { kind: 'custom', name: 'model', output: 'custom.model' },
      { kind: 'custom', name: 'requests', output: 'custom.requests' },
    ]);
  });
});
