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
    await ledger.close();
  });

  it('ignores a second append of the same id (shipping retries are idempotent)', async () => {
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
    assert.equal(db.pragma('user_version', { simple: true }), 1);
    const columns = db
      .prepare<[string], { name: string }>('SELECT name FROM pragma_table_info(?)')
      .all('usage_records');
    assert.ok(columns.some((c) => c.name === 'response_model'));
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
});
