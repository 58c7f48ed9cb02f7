import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import postgres from 'postgres';
import { createPostgresKeyStore } from '../../src/auth/postgres-key-store.js';
import { createSqliteKeyStore } from '../../src/auth/sqlite-key-store.js';
import { keyDigest } from '../../src/auth/subscription-directory.js';
import { createTestDatabase, withDatabase, type TestDatabase } from '../helpers/postgres.js';
import { runCli, runCliJson, type NewKeyJson } from './keys-cli.js';

const DAY = 86_400_000;

interface ListedKey {
  id: string;
  subscription: string;
  product: string;
  owner: string | null;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

/** A directory with a tokenmeter.yaml whose ledger is ./ledger.db, or the URL given. */
function project(ledgerUrl = 'sqlite:./ledger.db'): { dir: string; config: string; ledger: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tokenmeter-keys-cli-'));
  const config = join(dir, 'tokenmeter.yaml');
  writeFileSync(
    config,
    stringify({
      ledger: ledgerUrl,
      backends: [{ id: 'sim', type: 'simulator' }],
      apis: [{ id: 'openai', path: '/openai/v1', type: 'openai', backend: 'sim' }],
      products: [
        { id: 'standard', apis: ['openai'] },
        { id: 'premium', apis: ['openai'] },
      ],
      subscriptions: [{ id: 'team-yaml', key: 'yaml-key-0001', product: 'standard' }],
    }),
  );
  return { dir, config, ledger: join(dir, 'ledger.db') };
}

function near(iso: string | null | undefined, expected: number, slackMs = 60_000): boolean {
  return iso !== null && iso !== undefined && Math.abs(Date.parse(iso) - expected) < slackMs;
}

describe('tokenmeter keys (the CLI in a process, a real SQLite file)', () => {
  it('create (json and table), list (json and table), rotate, revoke', async () => {
    const { dir, ledger } = project();
    const before = Date.now();
    const created = await runCliJson<NewKeyJson>(
      [
        'keys',
        'create',
        '--subscription',
        'team-new',
        '--product',
        'standard',
        '--owner',
        'lead@x.example',
        '--cost-center',
        'CC-7',
        '--meta',
        'team=search',
        '--meta',
        'region=eu',
        '--expires',
        '90d',
      ],
      dir,
    );
    assert.deepEqual(Object.keys(created).sort(), ['expiresAt', 'id', 'key', 'product', 'subscription']);
    assert.match(created.id, /^key_[0-9a-f]{16}$/);
    assert.match(created.key, /^tmk_[A-Za-z0-9_-]{43}$/);
    assert.equal(created.subscription, 'team-new');
    assert.equal(created.product, 'standard');
    assert.ok(near(created.expiresAt, before + 90 * DAY), String(created.expiresAt));

    // The subscription was created with the key, its metadata from --meta.
    const store = createSqliteKeyStore(ledger);
    const sub = await store.subscription('team-new');
    await store.close();
    assert.deepEqual(
      { product: sub?.product, owner: sub?.owner, costCenter: sub?.costCenter, metadata: sub?.metadata },
      {
        product: 'standard',
        owner: 'lead@x.example',
        costCenter: 'CC-7',
        metadata: { team: 'search', region: 'eu' },
      },
    );

    const table = await runCli(
      ['keys', 'create', '--subscription', 'team-new', '--product', 'standard'],
      dir,
    );
    assert.equal(table.status, 0, table.stderr);
    const tableKey = /^key\s+(tmk_\S+)$/m.exec(table.stdout)?.[1];
    const tableId = /^id\s+(key_\S+)$/m.exec(table.stdout)?.[1];
    assert.ok(tableKey !== undefined && tableId !== undefined, table.stdout);
    assert.match(table.stdout, /^expires\s+never$/m);

    const listed = await runCliJson<ListedKey[]>(['keys', 'list'], dir);
    assert.deepEqual(
      listed.map((k) => [k.id, k.subscription, k.product, k.owner, k.expiresAt === null, k.revokedAt]),
      [
        [created.id, 'team-new', 'standard', 'lead@x.example', false, null],
        [tableId, 'team-new', 'standard', null, true, null],
      ],
    );
    const listTable = await runCli(['keys', 'list'], dir);
    assert.equal(listTable.status, 0);
    assert.match(listTable.stdout, /^id\s+subscription\s+product\s+owner\s+created\s+expires\s+revoked$/m);
    assert.match(
      listTable.stdout,
      new RegExp(`^${created.id}\\s+team-new\\s+standard\\s+lead@x\\.example\\s`, 'm'),
    );

    const rotated = await runCliJson<NewKeyJson>(['keys', 'rotate', created.id], dir);
    assert.equal(rotated.id, created.id, 'a rotation keeps the key id');
    assert.notEqual(rotated.key, created.key);
    assert.match(rotated.key, /^tmk_/);
    assert.ok(near(rotated.previousKeyWorksUntil, Date.now() + DAY), 'default grace: 24 h');
    const rotatedTable = await runCli(['keys', 'rotate', created.id, '--grace', '0'], dir);
    assert.equal(rotatedTable.status, 0, rotatedTable.stderr);
    assert.match(rotatedTable.stdout, /^key\s+tmk_\S+$/m);
    assert.match(rotatedTable.stdout, /^previous key works until\s+\d{4}-/m);

    const revoked = await runCli(['keys', 'revoke', tableId], dir);
    assert.equal(revoked.status, 0, revoked.stderr);
    assert.match(revoked.stdout, new RegExp(`revoked ${tableId}`));
    const after = await runCliJson<ListedKey[]>(['keys', 'list'], dir);
    assert.ok(near(after.find((k) => k.id === tableId)?.revokedAt, Date.now()));
    assert.equal(after.find((k) => k.id === created.id)?.revokedAt, null);

    // Neither list format ever shows a key or a digest of one.
    const secrets = [created.key, tableKey, rotated.key];
    const digests = secrets.flatMap((k) => [keyDigest(k).toString('hex'), keyDigest(k).toString('base64')]);
    for (const output of [listTable.stdout, (await runCli(['keys', 'list', '--format', 'json'], dir)).stdout])
      for (const secret of [...secrets, ...digests])
        assert.ok(!output.includes(secret), 'list shows no secret');
  });

  it('stores only digests: no file of the ledger holds a key', async () => {
    const { dir, ledger } = project();
    const keys: string[] = [];
    for (const sub of ['team-1', 'team-2']) {
      const created = await runCliJson<NewKeyJson>(
        ['keys', 'create', '--subscription', sub, '--product', 'standard'],
        dir,
      );
      keys.push(created.key);
      keys.push((await runCliJson<NewKeyJson>(['keys', 'rotate', created.id, '--grace', '1h'], dir)).key);
    }
    const files = readdirSync(dir).filter((f) => f.startsWith('ledger.db'));
    assert.ok(files.includes('ledger.db'));
    for (const file of files) {
      const bytes = readFileSync(join(dir, file));
      for (const key of keys) {
        assert.equal(bytes.indexOf(key), -1, `${file} holds a key`);
        assert.equal(bytes.indexOf(key.slice(4)), -1, `${file} holds a key's random part`);
      }
    }
    // ... and it does hold their digests.
    const main = readFileSync(ledger);
    const wal = existsSync(`${ledger}-wal`) ? readFileSync(`${ledger}-wal`) : Buffer.alloc(0);
    for (const key of keys)
      assert.ok(main.includes(keyDigest(key)) || wal.includes(keyDigest(key)), 'the digest is stored');
  });

  it('a key may join a YAML subscription of the same product only', async () => {
    const { dir } = project();
    const joined = await runCliJson<NewKeyJson>(
      ['keys', 'create', '--subscription', 'team-yaml', '--product', 'standard'],
      dir,
    );
    assert.equal(joined.subscription, 'team-yaml');
    const other = await runCli(
      ['keys', 'create', '--subscription', 'team-yaml', '--product', 'premium'],
      dir,
    );
    assert.equal(other.status, 2);
    assert.match(other.stderr, /team-yaml.*standard/);
    // A managed subscription keeps its product too.
    await runCliJson<NewKeyJson>(['keys', 'create', '--subscription', 'team-m', '--product', 'premium'], dir);
    const mismatch = await runCli(
      ['keys', 'create', '--subscription', 'team-m', '--product', 'standard'],
      dir,
    );
    assert.equal(mismatch.status, 2);
  });

  it("--ledger overrides the configuration's ledger", async () => {
    const { dir, config, ledger } = project();
    const other = join(dir, 'other.db');
    const created = await runCliJson<NewKeyJson>(
      [
        'keys',
        'create',
        '--config',
        config,
        '--ledger',
        `sqlite:${other}`,
        '--subscription',
        't',
        '--product',
        'standard',
      ],
      tmpdir(),
    );
    assert.equal(existsSync(ledger), false, 'the configured ledger was not touched');
    const listed = await runCliJson<ListedKey[]>(['keys', 'list', '--ledger', `sqlite:${other}`], tmpdir());
    assert.deepEqual(
      listed.map((k) => k.id),
      [created.id],
    );
    // Reading a ledger that does not exist lists nothing and creates nothing.
    const missing = join(dir, 'missing.db');
    assert.deepEqual(await runCliJson<ListedKey[]>(['keys', 'list', '--ledger', `sqlite:${missing}`]), []);
    assert.equal(existsSync(missing), false);
  });

  it('bad input exits 2 with one line on stderr, and creates no ledger', async () => {
    const { dir, ledger } = project();
    const created = await runCliJson<NewKeyJson>(
      ['keys', 'create', '--subscription', 'team-r', '--product', 'standard'],
      dir,
    );
    assert.equal((await runCli(['keys', 'revoke', created.id], dir)).status, 0);
    const notADb = join(dir, 'not-a-db.txt');
    writeFileSync(notADb, 'hello, this is not SQLite at all, and it is long enough to have a header');
    const create = ['keys', 'create', '--subscription', 'team-x', '--product', 'standard'];
    const cases: [string, string[], string?][] = [
      ['unknown product', ['keys', 'create', '--subscription', 'team-x', '--product', 'gold']],
      ['bad --expires', [...create, '--expires', 'soon']],
      ['zero --expires', [...create, '--expires', '0d']],
      ['bad --meta (no =)', [...create, '--meta', 'team']],
      ['bad --meta (key not an identifier)', [...create, '--meta', 'my-team=x']],
      ['--meta twice', [...create, '--meta', 'a=1', '--meta', 'a=2']],
      ['bad subscription id', ['keys', 'create', '--subscription', '-x y', '--product', 'standard']],
      ['missing --product', ['keys', 'create', '--subscription', 'team-x']],
      ['bad --format', [...create, '--format', 'xml']],
      ['in-memory ledger', [...create, '--ledger', 'sqlite::memory:']],
      ['in-memory ledger (list)', ['keys', 'list', '--ledger', 'sqlite::memory:']],
      ['unreachable PostgreSQL ledger', ['keys', 'list', '--ledger', 'postgres://u:pw@127.0.0.1:1/db']],
      ['not an SQLite file', ['keys', 'list', '--ledger', `sqlite:${notADb}`]],
      ['unknown key id (revoke)', ['keys', 'revoke', 'key_0000000000000000']],
      ['unknown key id (rotate)', ['keys', 'rotate', 'key_0000000000000000']],
      ['already revoked', ['keys', 'revoke', created.id]],
      ['rotate a revoked key', ['keys', 'rotate', created.id]],
      ['bad --grace', ['keys', 'rotate', created.id, '--grace', 'a while']],
      ['no configuration', ['keys', 'list'], tmpdir()],
    ];
    for (const [name, args, cwd] of cases) {
      const run = await runCli(args, cwd ?? dir);
      assert.equal(run.status, 2, `${name}: ${run.stderr}`);
      assert.equal(run.stderr.trim().split('\n').length, 1, `${name}: ${run.stderr}`);
      assert.equal(run.stdout, '', name);
    }
    // Bad input is found before the ledger is opened: a fresh project gets no file.
    const fresh = project();
    for (const args of [
      ['keys', 'create', '--subscription', 'team-x', '--product', 'gold'],
      [...create, '--expires', 'soon'],
      [...create, '--meta', 'team'],
      ['keys', 'revoke', 'key_0000000000000000'],
      ['keys', 'list'],
    ])
      assert.notEqual((await runCli(args, fresh.dir)).status, 1);
    assert.equal(existsSync(fresh.ledger), false);
    assert.ok(existsSync(ledger));
  });
});

describe('tokenmeter keys on a PostgreSQL ledger (the CLI in a process, a real server)', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(() => db.drop());

  it('create, list, rotate, revoke with --config: the shared ledger holds the keys, as digests only', async () => {
    const { dir, config } = project(db.url);
    const created = await runCliJson<NewKeyJson>(
      [
        'keys',
        'create',
        '--config',
        config,
        '--subscription',
        'team-pg',
        '--product',
        'standard',
        '--owner',
        'lead@x.example',
        '--cost-center',
        'CC-7',
        '--meta',
        'team=search',
        '--expires',
        '90d',
      ],
      tmpdir(),
    );
    assert.match(created.id, /^key_[0-9a-f]{16}$/);
    assert.ok(near(created.expiresAt, Date.now() + 90 * DAY), String(created.expiresAt));
    const second = await runCliJson<NewKeyJson>(
      ['keys', 'create', '--config', config, '--subscription', 'team-pg', '--product', 'standard'],
      tmpdir(),
    );
    const mismatch = await runCli(
      ['keys', 'create', '--config', config, '--subscription', 'team-pg', '--product', 'premium'],
      tmpdir(),
    );
    assert.equal(mismatch.status, 2, mismatch.stderr);
    assert.match(mismatch.stderr, /team-pg.*standard/);

    const rotated = await runCliJson<NewKeyJson>(
      ['keys', 'rotate', created.id, '--config', config],
      tmpdir(),
    );
    assert.equal(rotated.id, created.id);
    assert.ok(near(rotated.previousKeyWorksUntil, Date.now() + DAY));
    const revoked = await runCli(['keys', 'revoke', second.id, '--config', config], tmpdir());
    assert.equal(revoked.status, 0, revoked.stderr);
    assert.match(revoked.stdout, new RegExp(`revoked ${second.id}`));
    const again = await runCli(['keys', 'revoke', second.id, '--config', config], tmpdir());
    assert.equal(again.status, 2, 'already revoked');

    const listed = await runCliJson<ListedKey[]>(['keys', 'list', '--config', config], dir);
    assert.deepEqual(
      listed.map((k) => [k.id, k.subscription, k.product, k.owner, k.revokedAt === null]),
      [
        [created.id, 'team-pg', 'standard', 'lead@x.example', true],
        [second.id, 'team-pg', 'standard', null, false],
      ],
    );

    // What another machine reading the same database sees.
    const store = createPostgresKeyStore(db.url);
    try {
      const sub = await store.subscription('team-pg');
      assert.deepEqual(
        { product: sub?.product, owner: sub?.owner, costCenter: sub?.costCenter, metadata: sub?.metadata },
        { product: 'standard', owner: 'lead@x.example', costCenter: 'CC-7', metadata: { team: 'search' } },
      );
      assert.equal(await store.changes(), 4, 'two creates, a rotation, a revoke');
      const live = await store.snapshot(Date.now());
      assert.deepEqual(
        live.secrets.map((s) => s.digest.toString('hex')).sort(),
        [keyDigest(created.key), keyDigest(rotated.key)].map((d) => d.toString('hex')).sort(),
      );
    } finally {
      await store.close();
    }
    // No row of any managed table holds a key or its random part.
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      const rows = await sql<{ t: string }[]>`
        SELECT t::text AS t FROM managed_keys t UNION ALL SELECT s::text FROM managed_key_secrets s
        UNION ALL SELECT m::text FROM managed_subscriptions m`;
      const text = rows.map((r) => r.t).join('\n');
      assert.ok(text.includes(created.id), 'the rows were read');
      for (const key of [created.key, second.key, rotated.key]) {
        assert.ok(!text.includes(key.slice(4)), 'a key is stored');
        assert.ok(!text.includes(Buffer.from(key).toString('hex')), 'a key is stored as bytes');
      }
    } finally {
      await sql.end();
    }
  });

  it('two `keys create` processes for one new subscription at once: one subscription, both keys', async () => {
    const { config } = project(db.url);
    const create = [
      'keys',
      'create',
      '--config',
      config,
      '--subscription',
      'team-race',
      '--product',
      'premium',
    ];
    const [a, b] = await Promise.all([
      runCliJson<NewKeyJson>(create, tmpdir()),
      runCliJson<NewKeyJson>(create, tmpdir()),
    ]);
    const listed = await runCliJson<ListedKey[]>(['keys', 'list', '--config', config], tmpdir());
    assert.deepEqual(
      listed
        .filter((k) => k.subscription === 'team-race')
        .map((k) => k.id)
        .sort(),
      [a.id, b.id].sort(),
    );
  });

  it('an unreachable server or a missing database: exit 2, one line, no password', async () => {
    const unreachable = project('postgres://tm:s3cret-pw@127.0.0.1:1/tm');
    const missing = project(withDatabase(db.url, 'no_such_db'));
    for (const [name, dir, pattern] of [
      ['unreachable', unreachable.dir, /127\.0\.0\.1:1\/tm is unreachable/],
      ['missing database', missing.dir, /no_such_db/],
    ] as const)
      for (const args of [
        ['keys', 'list'],
        ['keys', 'create', '--subscription', 'team-x', '--product', 'standard'],
        ['keys', 'revoke', 'key_0000000000000000'],
      ]) {
        const run = await runCli(args, dir);
        const what = `${name}, ${args.join(' ')}: ${run.stderr}`;
        assert.equal(run.status, 2, what);
        assert.equal(run.stderr.trim().split('\n').length, 1, what);
        assert.match(run.stderr, pattern, what);
        assert.doesNotMatch(run.stderr, /s3cret/, what);
        assert.equal(run.stdout, '', what);
      }
  });
});
