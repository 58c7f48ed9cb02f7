import type { Logger } from 'pino';
import type { SubscriptionConfig } from '../config/schema.js';
import type { SubscriptionInfo } from './caller.js';
import type { KeyStore, KeyStoreSnapshot } from './key-store.js';
import { subscriptionInfo } from './subscription-directory.js';

/** One live secret of a managed key, as the gateway checks it on a call. */
export interface ManagedKeyEntry {
  /** SHA-256 of the key text, compared again in constant time after the map lookup. */
  digest: Buffer;
  /** The key's subscription: the YAML one it joined, or the managed one. Shared, frozen. */
  subscription: SubscriptionInfo;
  /** Prebuilt, so a call allocates nothing for it. */
  credential: { kind: 'managed-key'; keyId: string };
  /** Epoch ms from which the key has expired (Infinity: never). Checked on every call. */
  expiresAt: number;
  /** Epoch ms from which this secret no longer works after a rotation (Infinity: current). */
  retiresAt: number;
}

/** Finds a managed key by the hex of its digest: one map access, no I/O. */
export interface ManagedKeyLookup {
  find(digestHex: string): ManagedKeyEntry | undefined;
}

/**
 * The managed keys a gateway holds in memory, reloaded from the key store when its change
 * counter moves. Calls only read the map (ManagedKeyLookup); the store is never touched per call.
 */
export interface ManagedKeys extends ManagedKeyLookup {
  /** Live secrets loaded. */
  readonly size: number;
  /** Polls that failed since start (the last good set stayed in use). */
  readonly reloadFailures: number;
  /**
   * Loads the keys (rejects if that fails: the gateway does not start without them), then polls
   * the change counter every `refreshMs` on an unref'd timer. The store is closed with `close`.
   */
  start(store: KeyStore, refreshMs: number): Promise<void>;
  /** One poll now: reloads when the change counter moved. Never rejects. */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

export interface ManagedKeysOptions {
  /** The YAML subscriptions, which a managed key may join. */
  subscriptions: readonly SubscriptionConfig[];
  log: Logger;
  now?: () => number;
}

function freezeInfo(info: SubscriptionInfo): SubscriptionInfo {
  return Object.freeze({
    id: info.id,
    product: info.product,
    owner: info.owner,
    costCenter: info.costCenter,
    metadata: Object.freeze({ ...info.metadata }),
  });
}

/**
 * The lookup map of a snapshot. A key whose subscription is missing, revoked in the YAML file or
 * now has another product there is left out (and named in `skipped`): the YAML file wins.
 */
function buildEntries(
  snapshot: KeyStoreSnapshot,
  yaml: ReadonlyMap<string, SubscriptionConfig>,
): { entries: Map<string, ManagedKeyEntry>; skipped: string[] } {
  const infos = new Map<string, SubscriptionInfo>();
  for (const s of snapshot.subscriptions) if (!yaml.has(s.id)) infos.set(s.id, freezeInfo(s));
  for (const s of yaml.values()) if (!s.revoked) infos.set(s.id, freezeInfo(subscriptionInfo(s)));
  const keys = new Map<string, { subscription: SubscriptionInfo; expiresAt: number; keyId: string }>();
  const skipped: string[] = [];
  for (const key of snapshot.keys) {
    const subscription = infos.get(key.subscription);
    if (subscription === undefined || subscription.product !== key.product) {
      skipped.push(key.id);
      continue;
    }
    keys.set(key.id, { subscription, expiresAt: key.expiresAt ?? Infinity, keyId: key.id });
  }
  const entries = new Map<string, ManagedKeyEntry>();
  for (const secret of snapshot.secrets) {
    const key = keys.get(secret.keyId);
    if (key === undefined) continue;
    entries.set(
      secret.digest.toString('hex'),
      Object.freeze({
        digest: secret.digest,
        subscription: key.subscription,
        credential: Object.freeze({ kind: 'managed-key' as const, keyId: key.keyId }),
        expiresAt: key.expiresAt,
        retiresAt: secret.retiresAt ?? Infinity,
      }),
    );
  }
  return { entries, skipped };
}

export function createManagedKeys(options: ManagedKeysOptions): ManagedKeys {
  const { log } = options;
  const now = options.now ?? Date.now;
  const yaml = new Map(options.subscriptions.map((s) => [s.id, s]));
  let entries = new Map<string, ManagedKeyEntry>();
  let store: KeyStore | undefined;
  let loadedChanges: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let failing = false;
  let reloadFailures = 0;

  async function load(from: KeyStore): Promise<void> {
    const changes = await from.changes();
    if (changes === loadedChanges) return;
    const snapshot = await from.snapshot(now());
    const built = buildEntries(snapshot, yaml);
    entries = built.entries;
    loadedChanges = snapshot.changes;
    if (built.skipped.length > 0)
      log.warn(
        { keys: built.skipped },
        'managed keys whose subscription is not in the ledger, is revoked or has another product in the configuration are not accepted',
      );
  }

  async function refresh(): Promise<void> {
    if (store === undefined || closed) return;
    try {
      await load(store);
      if (failing) log.info('managed keys: reloading works again');
      failing = false;
    } catch (err) {
      reloadFailures += 1;
      // Once per failure streak: a ledger locked for minutes must not flood the log.
      if (!failing) log.warn({ err }, 'managed keys: reload failed; the keys loaded last stay in use');
      failing = true;
    }
  }

  // A chain of timeouts, not an interval: a slow poll (a networked store) never overlaps the next.
  function schedule(refreshMs: number): void {
    if (closed) return;
    timer = setTimeout(() => {
      void refresh().finally(() => schedule(refreshMs));
    }, refreshMs);
    timer.unref();
  }

  return {
    find: (digestHex) => entries.get(digestHex),
    get size() {
      return entries.size;
    },
    get reloadFailures() {
      return reloadFailures;
    },
    async start(from, refreshMs) {
      store = from;
      try {
        await load(from);
      } catch (err) {
        // Polling goes on: a caller that starts without the managed keys gets them once the
        // store answers (the first successful poll loads them, as the counter is unknown).
        failing = true;
        throw err;
      } finally {
        schedule(refreshMs);
      }
    },
    refresh,
    async close() {
      closed = true;
      clearTimeout(timer);
      await store?.close();
    },
  };
}
