// The managed key behaviours shared by every KeyStore backend: managed-keys.test.ts runs them on
// SQLite, postgres-key-store.test.ts on PostgreSQL.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import pino from 'pino';
import { generateKeyId, generateManagedKey, type GeneratedKey } from '../../src/auth/key-secret.js';
import type { KeyStore, ManagedSubscription } from '../../src/auth/key-store.js';
import { createManagedKeys, type ManagedKeys } from '../../src/auth/managed-keys.js';
import {
  createSubscriptionDirectory,
  type SubscriptionDirectory,
} from '../../src/auth/subscription-directory.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { isTokenmeterError } from '../../src/errors.js';

const T0 = Date.parse('2025-06-01T00:00:00Z');
const HOUR = 3_600_000;

const config: Config = configSchema.parse({
  ledger: 'sqlite::memory:',
  backends: [{ id: 'sim', type: 'simulator' }],
  apis: [
    { id: 'openai', path: '/openai/v1', type: 'openai', backend: 'sim' },
    { id: 'claude', path: '/anthropic', type: 'anthropic', backend: 'sim' },
  ],
  products: [
    { id: 'standard', apis: ['openai'] },
    { id: 'premium', apis: ['openai', 'claude'] },
  ],
  subscriptions: [
    { id: 'team-yaml', key: 'yaml-key-0001', product: 'standard', metadata: { tier: 'gold' } },
    { id: 'team-gone', key: 'yaml-key-0002', product: 'standard', revoked: true },
  ],
});

/** Log lines at warn and above, parsed. */
function collectingLogger(): { log: pino.Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return isTokenmeterError(err) ? err.code : 'not a TokenmeterError';
  }
}

/** A fresh, empty key store for one test, and how to remove it afterwards. */
export interface KeyStoreFixture {
  store: KeyStore;
  /** Runs after the store is closed. */
  remove?: () => Promise<void>;
}

/**
 * The behaviours every KeyStore backend must share, as the gateway's managed keys and the
 * subscription directory see them: `open` gives each test a store of its own.
 */
export function describeManagedKeys(backend: string, open: () => Promise<KeyStoreFixture>): void {
  describe(`managed keys in the gateway (${backend} key store)`, () => {
    let fixture: KeyStoreFixture;
    let store: KeyStore;
    let keys: ManagedKeys;
    let directory: SubscriptionDirectory;
    let clock: number;
    let logged: ReturnType<typeof collectingLogger>;

    beforeEach(async () => {
      clock = T0;
      fixture = await open();
      store = fixture.store;
      logged = collectingLogger();
      keys = createManagedKeys({ subscriptions: config.subscriptions, log: logged.log, now: () => clock });
      directory = createSubscriptionDirectory(config, { managedKeys: keys, now: () => clock });
    });
    afterEach(async () => {
      await keys.close();
      await store.close(); // when keys was never started; closing twice is harmless
      await fixture.remove?.();
    });

    function subscription(id: string, product = 'standard'): ManagedSubscription {
      return {
        id,
        product,
        owner: 'o@x.example',
        costCenter: 'CC-9',
        metadata: { team: 'search' },
        createdAt: clock,
      };
    }

    async function create(
      sub: string,
      options: { product?: string; expiresAt?: number; yaml?: boolean } = {},
    ): Promise<GeneratedKey & { id: string }> {
      const generated = generateManagedKey();
      const id = generateKeyId();
      const product = options.product ?? 'standard';
      await store.createKey({
        key: { id, subscription: sub, product, createdAt: clock, expiresAt: options.expiresAt },
        digest: generated.digest,
        subscription: options.yaml === true ? undefined : subscription(sub, product),
      });
      return { ...generated, id };
    }

    it('a managed key identifies its managed subscription, metadata included', async () => {
      const k = await create('team-m');
      await keys.start(store, 60_000);
      assert.equal(keys.size, 1);
      const caller = directory.authenticate(k.key, 'openai');
      assert.deepEqual(caller.credential, { kind: 'managed-key', keyId: k.id });
      assert.deepEqual(
        { ...caller.subscription, metadata: { ...caller.subscription.metadata } },
        {
          id: 'team-m',
          product: 'standard',
          owner: 'o@x.example',
          costCenter: 'CC-9',
          metadata: { team: 'search' },
        },
      );
      assert.equal(
        code(() => directory.authenticate(k.key, 'claude')),
        'TM_FORBIDDEN',
        'API not in its product',
      );
      assert.equal(
        code(() => directory.authenticate(`${k.key}x`, 'openai')),
        'TM_UNAUTHORIZED',
      );
      // The YAML keys still work beside it.
      assert.equal(directory.authenticate('yaml-key-0001', 'openai').credential.kind, 'config-key');
    });

    it('a key that joined a YAML subscription gets the YAML subscription, unless it is revoked there', async () => {
      const joined = await create('team-yaml', { yaml: true });
      const gone = await create('team-gone', { yaml: true });
      await keys.start(store, 60_000);
      const caller = directory.authenticate(joined.key, 'openai');
      assert.equal(caller.subscription.id, 'team-yaml');
      assert.deepEqual({ ...caller.subscription.metadata }, { tier: 'gold' });
      assert.equal(
        code(() => directory.authenticate(gone.key, 'openai')),
        'TM_UNAUTHORIZED',
      );
    });

    it('expiry is checked against the clock on every call, without a reload', async () => {
      const k = await create('team-m', { expiresAt: T0 + HOUR });
      await keys.start(store, 60_000);
      clock = T0 + HOUR - 1;
      assert.equal(directory.authenticate(k.key, 'openai').subscription.id, 'team-m');
      clock = T0 + HOUR;
      assert.equal(
        code(() => directory.authenticate(k.key, 'openai')),
        'TM_UNAUTHORIZED',
      );
    });

    it('a rotation keeps the old secret working until its grace ends; a revoke ends every secret', async () => {
      const k = await create('team-m');
      await keys.start(store, 60_000);
      const next = generateManagedKey();
      await store.rotateKey(k.id, next.digest, clock, clock + HOUR);
      await keys.refresh();
      assert.equal(directory.authenticate(k.key, 'openai').credential.kind, 'managed-key');
      assert.deepEqual(directory.authenticate(next.key, 'openai').credential, {
        kind: 'managed-key',
        keyId: k.id,
      });
      clock = T0 + HOUR;
      assert.equal(
        code(() => directory.authenticate(k.key, 'openai')),
        'TM_UNAUTHORIZED',
        'rotated out',
      );
      assert.equal(directory.authenticate(next.key, 'openai').subscription.id, 'team-m');

      await store.revokeKey(k.id, clock);
      await keys.refresh();
      assert.equal(
        code(() => directory.authenticate(next.key, 'openai')),
        'TM_UNAUTHORIZED',
        'revoked',
      );
      assert.equal(keys.size, 0);
    });

    it('a second rotation with a shorter grace shortens the grace of the older secret too', async () => {
      const k = await create('team-m');
      const second = generateManagedKey();
      const third = generateManagedKey();
      await store.rotateKey(k.id, second.digest, clock, clock + 24 * HOUR);
      await store.rotateKey(k.id, third.digest, clock, clock);
      await keys.start(store, 60_000);
      assert.equal(
        code(() => directory.authenticate(k.key, 'openai')),
        'TM_UNAUTHORIZED',
      );
      assert.equal(
        code(() => directory.authenticate(second.key, 'openai')),
        'TM_UNAUTHORIZED',
      );
      assert.equal(directory.authenticate(third.key, 'openai').subscription.id, 'team-m');
    });

    it('the store refuses what the CLI reports as bad input', async () => {
      const k = await create('team-m', { expiresAt: T0 + HOUR });
      await assert.rejects(store.revokeKey('key_missing', clock), { code: 'TM_NOT_FOUND' });
      await assert.rejects(store.rotateKey('key_missing', generateManagedKey().digest, clock, clock), {
        code: 'TM_NOT_FOUND',
      });
      await assert.rejects(create('team-m', { product: 'premium' }), { code: 'TM_BAD_REQUEST' });
      await assert.rejects(store.rotateKey(k.id, generateManagedKey().digest, T0 + HOUR, T0 + HOUR), {
        code: 'TM_BAD_REQUEST',
      });
      await store.revokeKey(k.id, clock);
      await assert.rejects(store.revokeKey(k.id, clock), { code: 'TM_BAD_REQUEST' });
      await assert.rejects(store.rotateKey(k.id, generateManagedKey().digest, clock, clock), {
        code: 'TM_BAD_REQUEST',
      });
    });

    it('reloads only when the change counter moved', async () => {
      let snapshots = 0;
      const counting: KeyStore = {
        ...store,
        snapshot: (asOf) => {
          snapshots += 1;
          return store.snapshot(asOf);
        },
      };
      await keys.start(counting, 60_000);
      await keys.refresh();
      await keys.refresh();
      assert.equal(snapshots, 1);
      const k = await create('team-m');
      await keys.refresh();
      assert.equal(snapshots, 2);
      assert.equal(directory.authenticate(k.key, 'openai').subscription.id, 'team-m');
    });

    it('a failing poll keeps the last good keys and logs once per failure streak', async () => {
      const k = await create('team-m');
      let broken = false;
      const flaky: KeyStore = {
        ...store,
        changes: () =>
          broken ? Promise.reject(new Error('SQLITE_BUSY: database is locked')) : store.changes(),
      };
      await keys.start(flaky, 60_000);
      broken = true;
      for (let i = 0; i < 3; i++) await keys.refresh();
      assert.equal(keys.reloadFailures, 3);
      assert.equal(directory.authenticate(k.key, 'openai').subscription.id, 'team-m');
      assert.equal(logged.lines.filter((l) => l.level === 40).length, 1, 'one warning for the streak');
      broken = false;
      await keys.refresh();
      broken = true;
      await keys.refresh();
      assert.equal(logged.lines.filter((l) => l.level === 40).length, 2, 'a new streak warns again');
    });

    it('the store holds digests of 32 bytes, never the key text', async () => {
      const k = await create('team-m');
      const snapshot = await store.snapshot(clock);
      assert.equal(snapshot.secrets.length, 1);
      assert.equal(snapshot.secrets[0]?.digest.length, 32);
      assert.match(k.key, /^tmk_[A-Za-z0-9_-]{43}$/);
    });
  });
}
