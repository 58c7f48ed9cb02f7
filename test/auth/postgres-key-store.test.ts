import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import postgres from 'postgres';
import { generateKeyId, generateManagedKey } from '../../src/auth/key-secret.js';
import type { KeyStore, ManagedSubscription } from '../../src/auth/key-store.js';
import { createManagedKeys } from '../../src/auth/managed-keys.js';
import { openKeyStore } from '../../src/auth/open-key-store.js';
import { createPostgresKeyStore } from '../../src/auth/postgres-key-store.js';
import { createSqliteKeyStore } from '../../src/auth/sqlite-key-store.js';
import { isTokenmeterError } from '../../src/errors.js';
import {
  createTestDatabase,
  startPrivatePostgres,
  withDatabase,
  type PostgresServer,
  type TestDatabase,
} from '../helpers/postgres.js';
import { describeManagedKeys } from './managed-keys-suite.js';

const T0 = Date.parse('2025-06-01T00:00:00Z');
const HOUR = 3_600_000;

/** A port on 127.0.0.1 where nothing listens (free a moment ago): connections are refused. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

// The shared behaviours, each test on a database of its own.
describeManagedKeys('PostgreSQL', async () => {
  const db = await createTestDatabase();
  return { store: createPostgresKeyStore(db.url), remove: () => db.drop() };
});

function subscription(id: string, product: string, createdAt = T0): ManagedSubscription {
  return {
    id,
    product,
    owner: 'o@x.example',
    costCenter: 'CC-1',
    metadata: { team: 'a', region: 'eu' },
    createdAt,
  };
}

/** Creates a key for `sub` (and the subscription when `managed`); resolves with its id. */
async function createKey(
  store: KeyStore,
  sub: string,
  options: { product?: string; at?: number; expiresAt?: number; managed?: boolean; owner?: string } = {},
): Promise<string> {
  const id = generateKeyId();
  const product = options.product ?? 'standard';
  const at = options.at ?? T0;
  await store.createKey({
    key: {
      id,
      subscription: sub,
      product,
      owner: options.owner,
      createdAt: at,
      expiresAt: options.expiresAt,
    },
    digest: generateManagedKey().digest,
    subscription: options.managed === false ? undefined : subscription(sub, product, at),
  });
  return id;
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    return isTokenmeterError(err) ? err.code : `not a TokenmeterError: ${String(err)}`;
  }
}

describe('PostgreSQL key store: the same contents as the SQLite store', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(() => db.drop());

  it('one script of creates, rotations and revokes gives equal snapshots, lists and counters', async () => {
    const pg = createPostgresKeyStore(db.url);
    const sqlite = createSqliteKeyStore(join(mkdtempSync(join(tmpdir(), 'tm-pgks-')), 'ledger.db'));
    try {
      // The same ids and digests on both: generated once, applied to each store.
      const ids = Array.from({ length: 5 }, () => generateKeyId());
      const digests = Array.from({ length: 8 }, () => generateManagedKey().digest);
      const script = async (store: KeyStore): Promise<void> => {
        const key = (
          i: number,
          sub: string,
          at: number,
          extra: { expiresAt?: number; owner?: string } = {},
        ) => ({
          id: ids[i] as string,
          subscription: sub,
          product: 'standard',
          createdAt: at,
          ...extra,
        });
        await store.createKey({
          key: key(0, 'team-a', T0, { owner: 'lead@x.example' }),
          digest: digests[0] as Buffer,
          subscription: subscription('team-a', 'standard'),
        });
        await store.createKey({
          key: key(1, 'team-a', T0 + 1),
          digest: digests[1] as Buffer,
          subscription: subscription('team-a', 'standard'),
        });
        await store.createKey({ key: key(2, 'team-yaml', T0 + 2), digest: digests[2] as Buffer });
        await store.createKey({
          key: key(3, 'team-b', T0 + 3, { expiresAt: T0 + 2 * HOUR }),
          digest: digests[3] as Buffer,
          subscription: {
            ...subscription('team-b', 'standard', T0 + 3),
            metadata: {},
            owner: undefined,
            costCenter: undefined,
          },
        });
        await store.createKey({
          key: key(4, 'team-b', T0 + 4),
          digest: digests[4] as Buffer,
          subscription: subscription('team-b', 'standard'),
        });
        await store.rotateKey(ids[0] as string, digests[5] as Buffer, T0 + HOUR, T0 + 3 * HOUR);
        await store.rotateKey(ids[0] as string, digests[6] as Buffer, T0 + HOUR, T0 + 2 * HOUR);
        await store.rotateKey(ids[3] as string, digests[7] as Buffer, T0 + HOUR, T0 + 5 * HOUR);
        await store.revokeKey(ids[1] as string, T0 + HOUR);
      };
      await script(sqlite);
      await script(pg);
      assert.deepEqual(await pg.listKeys(), await sqlite.listKeys());
      assert.equal(await pg.changes(), 9);
      assert.equal(await pg.changes(), await sqlite.changes());
      assert.deepEqual(await pg.subscription('team-a'), await sqlite.subscription('team-a'));
      assert.deepEqual(await pg.subscription('team-b'), await sqlite.subscription('team-b'));
      assert.equal(
        await pg.subscription('team-yaml'),
        undefined,
        'a key that joined a YAML subscription creates none',
      );
      const bySecret = (s: { secrets: { digest: Buffer }[] }) =>
        [...s.secrets].sort((x, y) => Buffer.compare(x.digest, y.digest));
      const byId = <T extends { id: string }>(rows: T[]) =>
        [...rows].sort((x, y) => x.id.localeCompare(y.id));
      for (const asOf of [T0 + HOUR, T0 + 2 * HOUR - 1, T0 + 2 * HOUR, T0 + 4 * HOUR, T0 + 6 * HOUR]) {
        const [a, b] = [await pg.snapshot(asOf), await sqlite.snapshot(asOf)];
        assert.equal(a.changes, b.changes);
        assert.deepEqual(byId(a.subscriptions), byId(b.subscriptions), `subscriptions at ${asOf}`);
        assert.deepEqual(byId(a.keys), byId(b.keys), `keys at ${asOf}`);
        assert.deepEqual(bySecret(a), bySecret(b), `secrets at ${asOf}`);
      }
      // The contents themselves, not only their equality: at T0 + 2 h key 0 has its newest
      // secret only (both older ones retired at T0 + 2 h) and key 3 has expired.
      const at2h = await pg.snapshot(T0 + 2 * HOUR);
      assert.deepEqual(at2h.keys.map((k) => k.id).sort(), [ids[0], ids[2], ids[4]].sort());
      assert.deepEqual(
        at2h.secrets.filter((s) => s.keyId === ids[0]).map((s) => s.digest.toString('hex')),
        [(digests[6] as Buffer).toString('hex')],
      );
    } finally {
      await pg.close();
      await sqlite.close();
    }
  });

  it('failed changes move no counter and leave no rows', async () => {
    const store = createPostgresKeyStore(db.url);
    try {
      const before = await store.changes();
      const rows = (await store.listKeys()).length;
      assert.equal(await codeOf(createKey(store, 'team-a', { product: 'premium' })), 'TM_BAD_REQUEST');
      assert.equal(await codeOf(store.revokeKey('key_missing', T0)), 'TM_NOT_FOUND');
      assert.equal(
        await codeOf(store.rotateKey('key_missing', generateManagedKey().digest, T0, T0)),
        'TM_NOT_FOUND',
      );
      assert.equal(await store.changes(), before);
      assert.equal((await store.listKeys()).length, rows, 'the refused key was rolled back');
    } finally {
      await store.close();
    }
  });
});

describe('PostgreSQL key store: several machines at once', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(() => db.drop());

  it('two stores creating keys for one new subscription: one subscription, both keys, two changes', async () => {
    // Two pools, as two `keys create` on two machines; both also migrate the fresh database at once.
    const [a, b] = [createPostgresKeyStore(db.url), createPostgresKeyStore(db.url)];
    try {
      const ids = await Promise.all([
        createKey(a, 'team-race', { owner: 'a@x.example' }),
        createKey(b, 'team-race', { owner: 'b@x.example' }),
      ]);
      assert.equal(await a.changes(), 2);
      const snapshot = await b.snapshot(T0);
      assert.deepEqual(
        snapshot.subscriptions.map((s) => s.id),
        ['team-race'],
      );
      assert.deepEqual(snapshot.keys.map((k) => k.id).sort(), [...ids].sort());
      assert.equal(snapshot.secrets.length, 2);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('racing creates with different products: one wins, the other is refused', async () => {
    const [a, b] = [createPostgresKeyStore(db.url), createPostgresKeyStore(db.url)];
    try {
      const before = await a.changes();
      const outcomes = await Promise.all([
        codeOf(createKey(a, 'team-split', { product: 'standard' })),
        codeOf(createKey(b, 'team-split', { product: 'premium' })),
      ]);
      assert.deepEqual([...outcomes].sort(), ['TM_BAD_REQUEST', undefined].sort());
      const keys = (await a.listKeys()).filter((k) => k.subscription === 'team-split');
      assert.equal(keys.length, 1);
      assert.equal(keys[0]?.product, (await a.subscription('team-split'))?.product);
      assert.equal(await a.changes(), before + 1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('racing revokes of one key: one revokes it, the other is told it already was', async () => {
    const stores = [
      createPostgresKeyStore(db.url),
      createPostgresKeyStore(db.url),
      createPostgresKeyStore(db.url),
    ];
    try {
      const id = await createKey(stores[0] as KeyStore, 'team-revoke');
      const before = await (stores[0] as KeyStore).changes();
      const outcomes = await Promise.all(stores.map((s) => codeOf(s.revokeKey(id, T0 + HOUR))));
      assert.deepEqual(outcomes.filter((o) => o === undefined).length, 1, String(outcomes));
      assert.deepEqual(outcomes.filter((o) => o === 'TM_BAD_REQUEST').length, 2, String(outcomes));
      assert.equal(await (stores[1] as KeyStore).changes(), before + 1);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('racing rotations of one key: each new secret is stored, the counter moves once per rotation', async () => {
    const [a, b] = [createPostgresKeyStore(db.url), createPostgresKeyStore(db.url)];
    try {
      const id = await createKey(a, 'team-rotate');
      const before = await a.changes();
      await Promise.all([
        a.rotateKey(id, generateManagedKey().digest, T0 + 1, T0 + HOUR),
        b.rotateKey(id, generateManagedKey().digest, T0 + 1, T0 + HOUR),
      ]);
      assert.equal(await a.changes(), before + 2);
      const secrets = (await a.snapshot(T0 + 2)).secrets.filter((s) => s.keyId === id);
      // The original and the first rotation's secret retire at the grace end; the last one does not.
      assert.equal(secrets.length, 3);
      assert.equal(secrets.filter((s) => s.retiresAt === undefined).length, 1);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('PostgreSQL key store: bad servers and URLs', () => {
  let server: PostgresServer;
  before(async () => {
    server = await startPrivatePostgres();
  });
  after(() => server.destroy());

  it('openKeyStore returns the PostgreSQL store for postgres:// and postgresql:// URLs', async () => {
    const db = await createTestDatabase();
    try {
      for (const url of [db.url, db.url.replace(/^postgres:/, 'postgresql:')]) {
        const store = openKeyStore(url);
        assert.ok(store !== undefined);
        await createKey(store, 'team-open', { managed: true });
        assert.ok((await store.listKeys()).length >= 1);
        await store.close();
      }
    } finally {
      await db.drop();
    }
  });

  it('nothing listening: opening succeeds, every call rejects TM_LEDGER_UNAVAILABLE without the password', async () => {
    const port = await closedPort();
    const url = `postgres://tm:s3cret-pw@127.0.0.1:${port}/tm`;
    const store = createPostgresKeyStore(url, { connectTimeoutSec: 2 });
    try {
      for (const call of [
        () => store.changes(),
        () => store.snapshot(T0),
        () => store.listKeys(),
        () => store.subscription('x'),
        () => createKey(store, 'team-x'),
        () => store.revokeKey('key_x', T0),
        () => store.rotateKey('key_x', generateManagedKey().digest, T0, T0),
      ]) {
        const err = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        assert.ok(isTokenmeterError(err), String(err));
        assert.equal(err.code, 'TM_LEDGER_UNAVAILABLE');
        assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}/tm`));
        assert.doesNotMatch(err.message, /s3cret/);
      }
    } finally {
      await store.close();
    }
  });

  it('a server that accepts and never answers: the connect timeout ends the call with TM_LEDGER_UNAVAILABLE', async () => {
    // A TCP listener that reads the start-up message and says nothing, like a hung server or
    // a black-holing proxy: only the driver's connect timeout can end the call.
    const silent = createServer((socket) => socket.on('error', () => {}).resume());
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    const store = createPostgresKeyStore(`postgres://tm:s3cret@127.0.0.1:${port}/tm`, {
      connectTimeoutSec: 1,
    });
    try {
      const err = await store.changes().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(isTokenmeterError(err), String(err));
      assert.equal(err.code, 'TM_LEDGER_UNAVAILABLE');
      assert.match(err.message, /CONNECT_TIMEOUT/);
      assert.doesNotMatch(err.message, /s3cret/);
    } finally {
      await store.close();
      silent.close();
    }
  });

  it('a database that does not exist: TM_CONFIG_INVALID naming it', async () => {
    const store = createPostgresKeyStore(withDatabase(server.url, 'no_such_db'));
    try {
      const err = await store.listKeys().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(isTokenmeterError(err), String(err));
      assert.equal(err.code, 'TM_CONFIG_INVALID');
      assert.match(err.message, /no_such_db/);
    } finally {
      await store.close();
    }
  });

  it('a wrong password: TM_CONFIG_INVALID, the password in no message; the right one works', async () => {
    // The test servers trust every local connection; this one asks TCP clients other than the
    // superuser for a SCRAM password, as a production server does.
    const admin = postgres(server.url, { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`CREATE ROLE tm LOGIN PASSWORD 'right-pw'`);
      await admin.unsafe('CREATE DATABASE tm OWNER tm');
      const hba = join(server.dataDir, 'pg_hba.conf');
      writeFileSync(
        hba,
        [
          'local all all trust',
          'host all postgres 127.0.0.1/32 trust',
          'host all all 127.0.0.1/32 scram-sha-256',
          '',
        ].join('\n'),
      );
      assert.match(readFileSync(hba, 'utf8'), /scram/);
      await admin`SELECT pg_reload_conf()`;
    } finally {
      await admin.end();
    }
    const wrong = createPostgresKeyStore(`postgres://tm:wrong-pw@127.0.0.1:${server.port}/tm`);
    const right = createPostgresKeyStore(`postgres://tm:right-pw@127.0.0.1:${server.port}/tm`);
    try {
      const err = await wrong.changes().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(isTokenmeterError(err), String(err));
      assert.equal(err.code, 'TM_CONFIG_INVALID');
      assert.match(err.message, /password authentication failed/);
      assert.doesNotMatch(err.message, /wrong-pw|right-pw/);
      // The same server and role with the right password: migrated and usable.
      await createKey(right, 'team-pw');
      assert.equal(await right.changes(), 1);
    } finally {
      await wrong.close();
      await right.close();
    }
  });

  it("a gateway's poll while the server is down fails, keeps the keys, and recovers", async () => {
    const admin = postgres(server.url, { max: 1, onnotice: () => {} });
    await admin.unsafe('CREATE DATABASE poll');
    await admin.end();
    const url = withDatabase(server.url, 'poll');
    const store = createPostgresKeyStore(url, { connectTimeoutSec: 2 });
    const keys = createManagedKeys({ subscriptions: [], log: pino({ level: 'silent' }), now: () => T0 });
    try {
      await createKey(store, 'team-poll');
      await keys.start(store, 60_000);
      assert.equal(keys.size, 1);
      await server.stop();
      await keys.refresh();
      await keys.refresh();
      assert.equal(keys.reloadFailures, 2);
      assert.equal(keys.size, 1, 'the keys loaded last stay in use');
      await server.start();
      const writer = createPostgresKeyStore(url);
      await createKey(writer, 'team-poll');
      await writer.close();
      await keys.refresh();
      assert.equal(keys.reloadFailures, 2);
      assert.equal(keys.size, 2, 'the key created after the outage is loaded');
    } finally {
      await keys.close();
    }
  });
});
