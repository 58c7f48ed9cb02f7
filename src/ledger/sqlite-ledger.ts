import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  resolveUsageQuery,
  sortUsageRows,
  toDimensionValue,
  toUsageRow,
  type DimensionValue,
  type ResolvedUsageQuery,
  type UsageQuery,
  type UsageRow,
} from '../reports/usage-query.js';
import { createGroupCommitter } from './group-commit.js';
import {
  avoidMarkedHours,
  isDayEligible,
  MAX_PIECES,
  planRollupPieces,
  type RollupPiece,
} from './rollup-plan.js';
import { buildRollupDimensionValuesSql, buildRollupUsageSql } from './rollup-query-sql.js';
import { HOUR_MS } from './rollup-schema.js';
import { migrateLedgerSchema } from './ledger-schema.js';
import { createRollupStore, type RollupBuildProgress } from './rollup-store.js';
import { buildDimensionValuesSql, buildUsageSql, RECORD_TOKENS, type SqlValue } from './sqlite-usage-sql.js';
import {
  SAFETY_NET_CHECKPOINT_PAGES,
  startWalCheckpointer,
  type WalCheckpointer,
} from './wal-checkpointer.js';
import { randomUUID } from 'node:crypto';
import type {
  BudgetAlertClaim,
  BudgetAlertKey,
  Ledger,
  ReportDeliveryKey,
  RepriceResult,
  SubscriptionTotals,
} from './ledger.js';
import type { UsageRecord } from './record.js';

import { fromRow, INSERT_LAYOUT, INSERT_SQL, toParams } from './sqlite-record-row.js';
/** A query's time range alone. */
function range(q: ResolvedUsageQuery): Pick<ResolvedUsageQuery, 'since' | 'until'> {
  return {
    ...(q.since !== undefined && { since: q.since }),
    ...(q.until !== undefined && { until: q.until }),
  };
}

/** Kept exported from here for the connections that import it from this module. */
export { migrateLedgerSchema };

/** Records read and updated per transaction by reprice. */
const REPRICE_PAGE = 5000;

/** Runs synchronous work and reports its outcome as a promise (throws become rejections). */
function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/**
 * SQLite errors that a single record can cause (the rest say the store cannot write: full,
 * locked, I/O error, read-only, corrupt). See https://www.sqlite.org/rescode.html.
 */
function isRecordError(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  // Not an SQLite error: the driver refused to bind one of the record's values.
  if (typeof code !== 'string') return true;
  return (
    code.startsWith('SQLITE_CONSTRAINT') ||
    code === 'SQLITE_MISMATCH' ||
    code === 'SQLITE_TOOBIG' ||
    code === 'SQLITE_RANGE'
  );
}

/** A duration option: a whole number of milliseconds ≥ 0, `fallback` when unset or not finite. */
function milliseconds(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) ? Math.max(0, Math.trunc(value)) : fallback;
}

/** Connection settings for tools and tests; the gateway uses the defaults. */
export interface SqliteLedgerOptions {
  /**
   * How long a write waits for a lock held by another connection before it fails with
   * SQLITE_BUSY, milliseconds (default 5000). better-sqlite3 waits on the calling thread.
   */
  busyTimeoutMs?: number;
  /**
   * Caps the database file at this many pages on this connection (`PRAGMA max_page_count`):
   * writes beyond it fail with SQLITE_FULL, as on a full disk. For tests of that condition.
   */
  maxPageCount?: number;
  /**
   * Maintain the rollups on write and answer queries from them (default true). `false` is for
   * benchmarks and tests: queries read raw records, and the first write on such a connection
   * marks the rollups incomplete, so that the next connection opened with rollups rebuilds them.
   */
  rollups?: boolean;
  /** Progress of the rollup build at open (rollup-store.ts): after each UTC day. */
  onRollupBuild?: RollupBuildProgress;
  /**
   * How often this connection adds the figures it holds in memory to the rollups and rebuilds
   * the hours of dead connections, milliseconds (default 1000; 0: only when they grow large,
   * on close and on flushRollups, for tests).
   */
  rollupFlushMs?: number;
  /**
   * A connection whose heartbeat is older than this is dead, its unflushed hours are rebuilt
   * from raw records, milliseconds (default 30000). Far longer than rollupFlushMs.
   */
  rollupLeaseMs?: number;
}

/** An SQLite ledger; also exposes `get` for tests and tooling that need one record back. */
export interface SqliteLedger extends Ledger {
  /**
   * The stored record with this id, token counts not reported left undefined. A scan (the table
   * is keyed by time first): for tests and tooling, not for a hot path.
   */
  get(id: string): Promise<UsageRecord | undefined>;
  /** The pieces `query` would read (rollup-plan.ts): for tests and tooling. */
  planUsage(query: UsageQuery): RollupPiece[];
  /** Flushes the rollup deltas now and rebuilds dead connections' hours (rollup-store.ts). */
  flushRollups(): Promise<void>;
  /** Forgets the unflushed rollup deltas, as a crash would: for tests of recovery. */
  dropRollupDeltas(): void;
}

/**
 * Opens (creating if needed) an SQLite ledger at `path` (or `:memory:`).
 *
 * Durability: WAL with `synchronous = NORMAL`. Appends are group-committed (group-commit.ts):
 * the appends of one event-loop turn share one transaction, committed into the WAL file before
 * any of their promises resolves, so a killed or crashed gateway process loses
 * nothing (the OS still holds the written pages). Only a power cut or kernel crash can lose the
 * last commits; `FULL` would protect those too at the price of an fsync per metered call.
 */
export function createSqliteLedger(path: string, options: SqliteLedgerOptions = {}): SqliteLedger {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  try {
    // A `tokenmeter usage` reading while the gateway writes waits briefly instead of failing.
    db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // Checkpoints run in a worker (wal-checkpointer.ts); this connection only as a safety net.
    if (path !== ':memory:') db.pragma(`wal_autocheckpoint = ${SAFETY_NET_CHECKPOINT_PAGES}`);
    migrateLedgerSchema(db);
    if (options.maxPageCount !== undefined)
      db.pragma(`max_page_count = ${Math.max(1, Math.trunc(options.maxPageCount))}`);
  } catch (err) {
    db.close();
    throw err;
  }
  const useRollups = options.rollups ?? true;
  const rollups = createRollupStore(db, INSERT_LAYOUT, {
    owner: randomUUID(),
    leaseMs: milliseconds(options.rollupLeaseMs, 30_000),
  });
  try {
    if (useRollups) rollups.build(options.onRollupBuild);
  } catch (err) {
    // An interrupted build keeps the days it finished; the next open resumes after them.
    db.close();
    throw err;
  }
  // Prepared once: append is on the hot path of every metered call.
  const insert = db.prepare<SqlValue[]>(INSERT_SQL);
  const selectOne = db.prepare<[string], Record<string, unknown>>('SELECT * FROM usage_records WHERE id = ?');
  const countAll = db.prepare<[], number>('SELECT COUNT(*) FROM usage_records').pluck();
  const customNames = db
    .prepare<[], string>('SELECT DISTINCT j.key FROM usage_records, json_each(usage_records.custom) AS j')
    .pluck();
  // The transaction that stores records only marks their hours (rollup-store.ts); their
  // figures join the in-memory deltas once it has committed. A record whose id is stored
  // already (ON CONFLICT DO NOTHING) adds nothing.
  let invalidated = false;
  const insertTx = db.transaction((records: UsageRecord[]) => {
    const stored: SqlValue[][] = [];
    for (const record of records) {
      const params = toParams(record);
      if (insert.run(...params).changes > 0) stored.push(params);
    }
    if (useRollups) return { stored, marked: rollups.markRecords(stored) };
    if (!invalidated && stored.length > 0) {
      rollups.invalidate();
      invalidated = true;
    }
    return undefined;
  });
  const insertMany = (records: UsageRecord[]): void => {
    if (useRollups) keepAlive();
    const done = insertTx(records);
    if (done === undefined) return;
    rollups.committed(done.stored, done.marked);
    if (rollups.isLarge()) rollups.flush();
  };
  const insertOne = (record: UsageRecord): void => insertMany([record]);

  const keepAlive = (): void => {
    try {
      rollups.keepAlive();
    } catch (err) {
      // Busy: the next write or flush tries again; the record itself must not fail for it.
      if ((err as { code?: unknown }).code !== 'SQLITE_BUSY') throw err;
    }
  };

  // Flushes and recovery off the write path, and on connections that only read: any live
  // connection rebuilds the hours a killed one left marked.
  // A failure (a read-only file, a full disk) is warned about once until maintenance works
  // again, not every second; queries stay exact meanwhile (marked hours read raw).
  let failing = false;
  const maintain = (): void => {
    try {
      rollups.flush();
      rollups.recover();
      failing = false;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code !== 'SQLITE_BUSY' && db.open && !failing)
        process.emitWarning(`ledger rollup maintenance failed: ${String(err)}`, 'TokenmeterLedgerWarning');
      failing = true;
    }
  };
  // At open too: a process restarted after a crash rebuilds the hours it left marked.
  if (useRollups) maintain();
  const flushMs = milliseconds(options.rollupFlushMs, 1000);
  const timer = useRollups && flushMs > 0 ? setInterval(maintain, flushMs).unref() : undefined;
  const committer = createGroupCommitter<UsageRecord>(insertMany, insertOne, isRecordError);

  // Keyset pages of the (time, id) primary key: a month may hold millions of records, and
  // better-sqlite3 cannot write on a connection while it iterates a query.
  const repricePage = db.prepare<[number, string, number, number], Record<string, unknown>>(
    `SELECT * FROM usage_records WHERE (time, id) > (?, ?) AND time >= ? AND time < ?
     ORDER BY time, id LIMIT ${REPRICE_PAGE}`,
  );
  const updateCost = db.prepare<[number | null, number, string]>(
    'UPDATE usage_records SET cost = ? WHERE time = ? AND id = ?',
  );

  function runReprice(
    range: { since: number; until: number },
    price: (record: UsageRecord) => number | undefined,
  ): RepriceResult {
    const result: RepriceResult = { records: 0, changed: 0 };
    // This connection's deltas hold the old costs: written first, they are rebuilt with the rest.
    if (useRollups) rollups.flush();
    let after: [number, string] = [range.since, ''];
    for (;;) {
      const rows = repricePage.all(after[0], after[1], range.since, range.until);
      const last = rows.at(-1);
      if (last === undefined) {
        if (useRollups) maintain();
        return result;
      }
      // One transaction per page: a reprice interrupted keeps the pages it finished, and the
      // hours it changed are marked with it, read raw until rebuilt (rollup-store.ts).
      db.transaction(() => {
        const hours = new Set<number>();
        for (const row of rows) {
          const record = fromRow(row);
          const cost = price(record) ?? null;
          result.records += 1;
          if (cost === (record.cost ?? null)) continue;
          updateCost.run(cost, record.time, record.id);
          hours.add(Math.floor(record.time / HOUR_MS) * HOUR_MS);
          result.changed += 1;
        }
        // Also without rollups: any connection maintaining them rebuilds these hours.
        rollups.markForRebuild(hours);
      }).immediate();
      after = [Number(last['time']), String(last['id'])];
    }
  }

  /**
   * The pieces a resolved query reads: raw records only until the rollups are complete, and
   * for the hours marked as not flushed or to rebuild. Call in the query's read transaction.
   */
  function plan(q: ResolvedUsageQuery): RollupPiece[] {
    const raw: RollupPiece[] = [{ source: 'raw', ...range(q) }];
    if (!useRollups || !rollups.isComplete()) return raw;
    const pieces = avoidMarkedHours(planRollupPieces(q, isDayEligible(q)), rollups.markedHours());
    return pieces.length > MAX_PIECES ? raw : pieces;
  }

  // From the names table once the rollups are complete (they are built together); a scan of
  // every record's JSON otherwise. One read transaction, as for a query.
  const listCustomNames = db.transaction((): string[] =>
    useRollups && rollups.isComplete() ? rollups.customNames() : customNames.all(),
  );

  // One read transaction: the marks and the rows read come from the same snapshot.
  const runQuery = db.transaction((query: UsageQuery): UsageRow[] => {
    const q = resolveUsageQuery(query);
    const pieces = plan(q);
    const { sql, params } = pieces.every((p) => p.source === 'raw')
      ? buildUsageSql(q)
      : buildRollupUsageSql(q, pieces);
    const raw = db.prepare<[Record<string, SqlValue>], Record<string, unknown>>(sql).all(params);
    // Without GROUP BY SQLite returns one all-zero row for no records: no usage means no rows.
    const rows = raw.filter((r) => Number(r['requests']) > 0).map((r) => toUsageRow(q, r));
    return sortUsageRows(q, rows);
  });

  const runDimensionValues = db.transaction(
    (name: string, query: Omit<UsageQuery, 'by' | 'interval'>, limit: number): DimensionValue[] => {
      const q = resolveUsageQuery({ ...query, by: [name] });
      const [dimension] = q.by;
      if (dimension === undefined) return [];
      // No interval: dimensionValues ignores one, whatever the caller passed.
      const pieces = plan({ by: q.by, where: q.where, ...range(q) });
      const { sql, params } = pieces.every((p) => p.source === 'raw')
        ? buildDimensionValuesSql(q, dimension, limit)
        : buildRollupDimensionValuesSql(q, dimension, pieces, limit);
      return db
        .prepare<[Record<string, SqlValue>], unknown>(sql)
        .pluck()
        .all(params)
        .map((value) => toDimensionValue(dimension, value));
    },
  );

  const totalsBySubscription = db.prepare<[number, number, string], Record<string, unknown>>(
    `SELECT subscription, SUM(${RECORD_TOKENS}) AS tokens, TOTAL(cost) AS cost FROM usage_records
     WHERE time >= ? AND time < ? AND subscription IN (SELECT value FROM json_each(?))
     GROUP BY subscription`,
  );
  function runSubscriptionTotals(
    range: { since: number; until: number },
    subscriptions: readonly string[],
  ): Map<string, SubscriptionTotals> {
    const totals = new Map<string, SubscriptionTotals>();
    for (const row of totalsBySubscription.all(range.since, range.until, JSON.stringify(subscriptions)))
      totals.set(String(row['subscription']), { tokens: Number(row['tokens']), cost: Number(row['cost']) });
    return totals;
  }

  const alertKey = (a: BudgetAlertKey): [string, string, string, number, string] => [
    a.subscription,
    a.month,
    a.unit,
    a.threshold,
    a.channel,
  ];
  const KEY_MATCH = 'subscription = ? AND month = ? AND unit = ? AND threshold = ? AND channel = ?';
  // Insert-or-take-over in one statement: a new row, or an unsent one whose claim was released
  // (claimed_at 0) or whose lease ran out. changes = 1 tells this connection it won.
  const claimAlert = db.prepare<[string, string, string, number, string, string, number, number]>(
    `INSERT INTO budget_alerts (subscription, month, unit, threshold, channel, claim, claimed_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (subscription, month, unit, threshold, channel) DO UPDATE
       SET claim = excluded.claim, claimed_at = excluded.claimed_at
       WHERE budget_alerts.sent_at IS NULL AND budget_alerts.claimed_at <= ?`,
  );
  const alertSentAt = db
    .prepare<[string, string, string, number, string], number | null>(
      `SELECT sent_at FROM budget_alerts WHERE ${KEY_MATCH}`,
    )
    .pluck();
  const markAlertSent = db.prepare<[number, string, string, string, number, string, string]>(
    `UPDATE budget_alerts SET sent_at = ? WHERE ${KEY_MATCH} AND claim = ?`,
  );
  const releaseAlert = db.prepare<[string, string, string, number, string, string]>(
    `UPDATE budget_alerts SET claim = NULL, claimed_at = 0 WHERE ${KEY_MATCH} AND claim = ? AND sent_at IS NULL`,
  );
  function runClaimAlert(alert: BudgetAlertKey, now: number, leaseMs: number): BudgetAlertClaim {
    const claim = randomUUID();
    if (claimAlert.run(...alertKey(alert), claim, now, now - leaseMs).changes === 1)
      return { state: 'claimed', claim };
    return typeof alertSentAt.get(...alertKey(alert)) === 'number' ? { state: 'sent' } : { state: 'busy' };
  }

  // As claimAlert, and with `force` (the last parameter but one) a delivered row is taken over
  // too, unless another claim on it is still within its lease.
  const claimDelivery = db.prepare<[string, string, string, string, number, number, number]>(
    `INSERT INTO report_deliveries (month, channel, recipient, claim, claimed_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (month, channel, recipient) DO UPDATE
       SET claim = excluded.claim, claimed_at = excluded.claimed_at
       WHERE (report_deliveries.sent_at IS NULL OR ? = 1) AND report_deliveries.claimed_at <= ?`,
  );
  const DELIVERY_MATCH = 'month = ? AND channel = ? AND recipient = ?';
  const deliverySentAt = db
    .prepare<[string, string, string], number | null>(
      `SELECT sent_at FROM report_deliveries WHERE ${DELIVERY_MATCH}`,
    )
    .pluck();
  const markDeliverySent = db.prepare<[number, string, string, string, string]>(
    `UPDATE report_deliveries SET sent_at = ?, claim = NULL, claimed_at = 0 WHERE ${DELIVERY_MATCH} AND claim = ?`,
  );
  // A failed forced resend keeps the earlier sent_at: that delivery did happen.
  const releaseDelivery = db.prepare<[string, string, string, string]>(
    `UPDATE report_deliveries SET claim = NULL, claimed_at = 0 WHERE ${DELIVERY_MATCH} AND claim = ?`,
  );
  const deliveryKey = (d: ReportDeliveryKey): [string, string, string] => [d.month, d.channel, d.recipient];
  function runClaimDelivery(
    delivery: ReportDeliveryKey,
    now: number,
    leaseMs: number,
    force: boolean,
  ): BudgetAlertClaim {
    const claim = randomUUID();
    if (claimDelivery.run(...deliveryKey(delivery), claim, now, force ? 1 : 0, now - leaseMs).changes === 1)
      return { state: 'claimed', claim };
    return typeof deliverySentAt.get(...deliveryKey(delivery)) === 'number'
      ? { state: 'sent' }
      : { state: 'busy' };
  }

  // Started with the first append: a ledger opened only to read (tokenmeter usage) never
  // checkpoints behind the gateway's back.
  let checkpointer: WalCheckpointer | undefined;
  const onCheckpointError = (message: string): void => {
    process.emitWarning(`ledger checkpoint failed: ${message}`, 'TokenmeterLedgerWarning');
  };

  const append = (record: UsageRecord): Promise<void> => {
    if (checkpointer === undefined && path !== ':memory:')
      checkpointer = startWalCheckpointer(path, onCheckpointError);
    return committer.add(record);
  };

  return {
    append,
    // The group committer writes the appends of one event-loop turn in one transaction.
    appendBatch: async (records) => {
      await Promise.all(records.map(append));
    },
    rejectsRecord: (err) => db.open && isRecordError(err),
    query: (query) => settle(() => runQuery(query)),
    dimensionValues: (name, query, limit) => settle(() => runDimensionValues(name, query, limit)),
    count: () => settle(() => countAll.get() ?? 0),
    customDimensionNames: () => settle(() => listCustomNames()),
    reprice: (range, price) => settle(() => runReprice(range, price)),
    subscriptionTotals: (range, subscriptions) => settle(() => runSubscriptionTotals(range, subscriptions)),
    claimBudgetAlert: (alert, now, leaseMs) => settle(() => runClaimAlert(alert, now, leaseMs)),
    settleBudgetAlert: (alert, claim, delivered, now) =>
      settle(() => {
        if (delivered) markAlertSent.run(now, ...alertKey(alert), claim);
        else releaseAlert.run(...alertKey(alert), claim);
      }),
    claimReportDelivery: (delivery, now, leaseMs, force) =>
      settle(() => runClaimDelivery(delivery, now, leaseMs, force)),
    settleReportDelivery: (delivery, claim, delivered, now) =>
      settle(() => {
        if (delivered) markDeliverySent.run(now, ...deliveryKey(delivery), claim);
        else releaseDelivery.run(...deliveryKey(delivery), claim);
      }),
    planUsage: (query) => plan(resolveUsageQuery(query)),
    flushRollups: () => settle(maintain),
    dropRollupDeltas: () => rollups.dropDeltas(),
    get: (id) =>
      settle(() => {
        const row = selectOne.get(id);
        return row === undefined ? undefined : fromRow(row);
      }),
    close: async () => {
      await settle(() => {
        clearInterval(timer);
        committer.flush();
        try {
          if (useRollups) rollups.close();
        } finally {
          // Marks left by a failed flush go stale after the lease: another connection rebuilds.
          db.close();
        }
      });
      await checkpointer?.close();
    },
  };
}
