import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createPostgresLedger } from '../../src/ledger/postgres/pg-ledger.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import type { UsageRow } from '../../src/reports/usage-query.js';
import { CLI } from '../helpers/paths.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { makeRecord } from './fixtures/records.js';

const HOUR = 3_600_000;

describe('tokenmeter usage on a PostgreSQL ledger (process)', () => {
  let db: TestDatabase;
  let dir: string;
  const now = Date.now();
  const records = [
    makeRecord({ id: 'a', time: now - 3 * HOUR, subscription: 'team-a', model: 'gpt-4o', cost: 0.25 }),
    makeRecord({ id: 'b', time: now - 2 * HOUR, subscription: 'team-b', model: 'gpt-4o-mini' }),
    makeRecord({ id: 'c', time: now - HOUR, subscription: 'team-a', custom: { team: 'x' }, totalTokens: 40 }),
  ];

  before(async () => {
    db = await createTestDatabase();
    const ledger = createPostgresLedger(db.url);
    try {
      await ledger.appendBatch(records);
    } finally {
      await ledger.close();
    }
    dir = mkdtempSync(join(tmpdir(), 'tokenmeter-pgcli-'));
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await db.drop();
  });

  it('prints the same JSON rows as from SQLite, the password read from ${VAR}', async () => {
    // The test server trusts local connections: any password is accepted, so this checks the
    // interpolation reaches the driver without breaking the URL.
    const url = new URL(db.url);
    url.password = 'PLACEHOLDER';
    const config = join(dir, 'tokenmeter.yaml');
    writeFileSync(
      config,
      [
        `ledger: ${url.toString().replace('PLACEHOLDER', '${TM_TEST_PG_PASSWORD}')}`,
        'backends: [{ id: b, type: openai, url: "http://127.0.0.1:9/v1" }]',
        'apis: [{ id: openai, path: /openai/v1, type: openai, backend: b }]',
        'products: [{ id: p, apis: [openai] }]',
      ].join('\n'),
    );
    const args = [
      'usage',
      '--config',
      config,
      '--by',
      'subscription,model,team',
      '--since',
      '1d',
      '--format',
      'json',
    ];
    const result = spawnSync(process.execPath, [CLI, ...args], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, TM_TEST_PG_PASSWORD: 'any-password' },
    });
    assert.equal(result.status, 0, result.stderr);
    const rows = JSON.parse(result.stdout) as UsageRow[];
    const sqlite = createSqliteLedger(':memory:');
    try {
      await sqlite.appendBatch(records);
      const expected = await sqlite.query({
        by: ['subscription', 'model', 'team'],
        where: [],
        since: now - 30 * HOUR,
      });
      assert.equal(rows.length, 3);
      assert.deepEqual(rows, JSON.parse(JSON.stringify(expected)));
    } finally {
      await sqlite.close();
    }
  });

  it('exits non-zero with one clear line when the server is out of reach', () => {
    const result = spawnSync(
      process.execPath,
      [CLI, 'usage', '--ledger', 'postgres://tm:s3cret@127.0.0.1:1/tm', '--format', 'json'],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /PostgreSQL ledger at 127\.0\.0\.1:1 is unavailable/);
    assert.doesNotMatch(result.stderr, /s3cret/);
  });
});
