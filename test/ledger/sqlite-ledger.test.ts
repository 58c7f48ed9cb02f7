import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { isTokenmeterError } from '../../src/errors.js';
import type { UsageRecord } from '../../src/ledger/record.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { makeRecord, makeTempDir } from './fixtures/records.js';

describe('SQLite ledger storage', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await makeTempDir()));
  after(() => cleanup());

  it('stores every field of a record and reads it back unchanged', async () => {
    const ledger = createSqliteLedger(join(dir, 'roundtrip.db'));
    const record: UsageRecord = {
      id: 'rec-all-fields',
      time: Date.UTC(2025, 1, 3, 4, 5, 6, 789),
      api: 'openai',
      operation: 'chat.completions',
      product: 'standard',
      user: 'alice@example.com',
      subscription: 'team-a',
      ip: '203.0.113.7',
      location: 'eastus',
      gateway: 'gw-1',
      backend: 'primary',
      model: 'gpt-4o',
      responseModel: 'gpt-4o-2024-08-06',
      provider: 'openai',
      stream: true,
      custom: { appId: 'app-42', team: 'ml "core", ünïcode' },
      promptTokens: 1200,
      completionTokens: 300,
      totalTokens: 1500,
      cachedTokens: 1024,
      cacheWriteTokens: 64,
      reasoningTokens: 128,
      source: 'partial',
      status: 200,
      latencyMs: 1234.5,
      upstreamRequestId: 'req_abc123',
      cost: 0.0123456,
      providerCost: 0.0119,
      tokenDetails: { audioPromptTokens: 800, cachedAudioTokens: 512, audioCompletionTokens: 200 },
      flags: ['billed_counts_differ'],
    };
    await ledger.append(record);
    assert.deepEqual(await ledger.get(record.id), record);
    assert.equal(await ledger.count(), 1);
    await ledger.close();
  });

  it('keeps "not reported" (NULL) apart from 0', async () => {
    const ledger = createSqliteLedger(join(dir, 'nulls.db'));
    const sparse: UsageRecord = {
      id: 'sparse',
      time: 1,
      api: 'a',
      operation: 'embeddings',
      stream: false,
      custom: {},
      source: 'estimated',
      status: 0,
      latencyMs: 0,
      promptTokens: 0,
    };
    await ledger.append(sparse);
    const back = await ledger.get('sparse');
    assert.deepEqual(back, sparse);
    assert.equal(back?.promptTokens, 0);
    assert.equal('completionTokens' in (back ?? {}), false);
    assert.equal('cost' in (back ?? {}), false);
    assert.equal('providerCost' in (back ?? {}), false);
    assert.equal('tokenDetails' in (back ?? {}), false);
    await ledger.close();
  });

  it('ignores a second append of the same record (shipping retries are idempotent)', async () => {
    const ledger = createSqliteLedger(join(dir, 'idempotent.db'));
    await ledger.append(makeRecord({ id: 'dup', promptTokens: 1 }));
    await ledger.append(makeRecord({ id: 'dup', promptTokens: 999 }));
    await ledger.append(makeRecord({ id: 'other' }));
    assert.equal(await ledger.count(), 2);
    assert.equal((await ledger.get('dup'))?.promptTokens, 1);
    await ledger.close();
  });

  it('creates missing parent directories and keeps records across reopen', async () => {
    const path = join(dir, 'nested', 'deeper', 'ledger.db');
    const first = createSqliteLedger(path);
    await first.append(makeRecord({ id: 'persisted' }));
    await first.close();
    assert.ok(existsSync(path));
    const second = createSqliteLedger(path);
    assert.equal(await second.count(), 1);
    assert.equal(await second.get('missing'), undefined);
    await second.close();
  });

  it('uses WAL, synchronous=NORMAL and records its schema version', async () => {
    const path = join(dir, 'pragmas.db');
    await createSqliteLedger(path).close();
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('user_version', { simple: true }), 9);
    const columns = db
      .prepare<[string], { name: string }>('SELECT name FROM pragma_table_info(?)')
      .all('usage_records');
    assert.ok(columns.some((c) => c.name === 'response_model'));
    db.close();
  });

  it('is keyed by (time, id) with no other index: time ranges are ranges of the key', async () => {
    const path = join(dir, 'keyed.db');
    const ledger = createSqliteLedger(path);
    await ledger.append(makeRecord({ id: 'a', time: 1_000 }));
    await ledger.append(makeRecord({ id: 'b', time: 2_000 }));
    await ledger.close();
    const db = new Database(path, { readonly: true });
    const key = db
      .prepare<[string], { name: string; pk: number }>(
        'SELECT name, pk FROM pragma_table_info(?) WHERE pk > 0',
      )
      .all('usage_records')
      .sort((x, y) => x.pk - y.pk)
      .map((c) => c.name);
    assert.deepEqual(key, ['time', 'id']);
    const indexes = db
      .prepare<[], { name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
      )
      .all();
    assert.deepEqual(indexes, []);
    const plan = db
      .prepare<[], { detail: string }>('EXPLAIN QUERY PLAN SELECT * FROM usage_records WHERE time >= 1500')
      .all()
      .map((r) => r.detail)
      .join(' ');
    assert.match(plan, /SEARCH usage_records USING PRIMARY KEY \(time>\?\)/);
    db.close();
  });

  it('migrates a version-1 ledger (keyed by id, indexed on time) without losing a record', async () => {
    const path = join(dir, 'v1.db');
    const v1 = new Database(path);
    v1.pragma('journal_mode = WAL');
    v1.exec(`CREATE TABLE usage_records (
       id TEXT PRIMARY KEY, time INTEGER NOT NULL, api TEXT NOT NULL, operation TEXT NOT NULL,
       product TEXT, "user" TEXT, subscription TEXT, ip TEXT, location TEXT, gateway TEXT,
       backend TEXT, model TEXT, response_model TEXT, provider TEXT,
       stream INTEGER NOT NULL CHECK (stream IN (0, 1)), custom TEXT NOT NULL DEFAULT '{}',
       prompt_tokens INTEGER, completion_tokens INTEGER, total_tokens INTEGER,
       cached_tokens INTEGER, cache_write_tokens INTEGER, reasoning_tokens INTEGER,
       source TEXT NOT NULL CHECK (source IN ('reported', 'estimated', 'partial')),
       status INTEGER NOT NULL, latency_ms REAL NOT NULL, upstream_request_id TEXT, cost REAL
     ) WITHOUT ROWID;
     CREATE INDEX usage_records_time ON usage_records (time);
     INSERT INTO usage_records (id, time, api, operation, subscription, stream, custom,
       prompt_tokens, completion_tokens, total_tokens, source, status, latency_ms, cost)
     VALUES ('old-1', 1000, 'openai', 'chat.completions', 'team-a', 1, '{"team":"x"}',
       12, 3, 15, 'reported', 200, 4.5, 0.25);`);
    v1.pragma('user_version = 1');
    v1.close();

    const ledger = createSqliteLedger(path);
    const old = await ledger.get('old-1');
    assert.equal(old?.time, 1000);
    assert.equal(old?.subscription, 'team-a');
    assert.equal(old?.stream, true);
    assert.deepEqual(old?.custom, { team: 'x' });
    assert.equal(old?.totalTokens, 15);
    assert.equal(old?.cost, 0.25);
    assert.equal(old?.cachedTokens, undefined);
    await ledger.append(makeRecord({ id: 'new-1' }));
    assert.equal(await ledger.count(), 2);
    await ledger.close();
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), 9);
    db.close();
  });

  it('refuses a ledger written by a newer tokenmeter', () => {
    const path = join(dir, 'future.db');
    const db = new Database(path);
    db.pragma('user_version = 99');
    db.close();
    assert.throws(
      () => createSqliteLedger(path),
      (err: unknown) => isTokenmeterError(err) && err.code === 'TM_CONFIG_INVALID' && /99/.test(err.message),
    );
  });

  it('rejects (does not throw synchronously) when a record breaks a constraint', async () => {
    const ledger = createSqliteLedger(join(dir, 'reject.db'));
    const bad = { ...makeRecord({ id: 'bad' }), source: 'guessed' } as unknown as UsageRecord;
    const pending = ledger.append(bad);
    assert.ok(pending instanceof Promise);
    await assert.rejects(pending, /CHECK constraint/);
    assert.equal(await ledger.count(), 0);
    await ledger.close();
  });

  it('works in memory', async () => {
    const ledger = createSqliteLedger(':memory:');
    await ledger.append(makeRecord({ id: 'm' }));
    assert.equal(await ledger.count(), 1);
    await ledger.close();
  });

  it('claims a report delivery once: busy within the lease, sent once settled, again only with force', async () => {
    const ledger = createSqliteLedger(':memory:');
    const key = { month: '2026-03', channel: 'email', recipient: 'team-a' } as const;
    const lease = 1000;
    const first = await ledger.claimReportDelivery(key, 0, lease, false);
    assert.equal(first.state, 'claimed');
    assert.equal((await ledger.claimReportDelivery(key, 999, lease, false)).state, 'busy');
    assert.equal((await ledger.claimReportDelivery(key, 999, lease, true)).state, 'busy');
    // The first claimant died: its lease runs out and another takes the delivery over.
    const taken = await ledger.claimReportDelivery(key, 1000, lease, false);
    assert.equal(taken.state, 'claimed');
    // The stale claim can no longer settle it.
    if (first.state === 'claimed') await ledger.settleReportDelivery(key, first.claim, true, 1001);
    assert.equal((await ledger.claimReportDelivery(key, 1999, lease, false)).state, 'busy');
    if (taken.state === 'claimed') await ledger.settleReportDelivery(key, taken.claim, false, 2001);
    const retried = await ledger.claimReportDelivery(key, 2002, lease, false);
    assert.equal(retried.state, 'claimed');
    if (retried.state === 'claimed') await ledger.settleReportDelivery(key, retried.claim, true, 2003);
    assert.equal((await ledger.claimReportDelivery(key, 2004, lease, false)).state, 'sent');
    const forced = await ledger.claimReportDelivery(key, 2004, lease, true);
    assert.equal(forced.state, 'claimed');
    // Another recipient of the same month is independent.
    const other = await ledger.claimReportDelivery({ ...key, recipient: 'team-b' }, 2004, lease, false);
    assert.equal(other.state, 'claimed');
    await ledger.close();
  });
});
