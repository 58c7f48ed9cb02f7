import { isAbsolute, resolve } from 'node:path';
import { TokenmeterError } from '../errors.js';
import type { DimensionValue, UsageQuery, UsageRow } from '../reports/usage-query.js';
import type { UsageRecord } from './record.js';
import type { RollupBuildProgress } from './rollup-store.js';
import { createPostgresLedger } from './postgres/pg-ledger.js';
import { createSqliteLedger } from './sqlite-ledger.js';
import { describePgServer } from './postgres/pg-errors.js';

/**
 * The usage record store, one interface for every backend (embedded SQLite now, a shared
 * PostgreSQL later). Methods are async so that a networked backend fits; an embedded one may do
 * its work synchronously inside them.
 */
export interface Ledger {
  /**
   * Stores one record. When the promise resolves the record is committed (durable against a
   * process crash). Appending a record whose id is already stored does nothing: shipping from
   * an outbox may retry.
   */
  append(record: UsageRecord): Promise<void>;
  /**
   * Stores records in one transaction where the backend can (the outbox ships batches); the same
   * guarantees as `append` for each, records already stored are skipped. Rejects when the batch
   * could not be stored; `rejectsRecord` then tells whether one record is at fault.
   */
  appendBatch(records: readonly UsageRecord[]): Promise<void>;
  /**
   * Whether an error from `append` is the record's own fault (a constraint it violates), so that
   * the store itself can still write. Other errors (full, locked, unreachable) mean it cannot.
   */
  rejectsRecord(err: unknown): boolean;
  /** Aggregates records into rows (DESIGN.md, `tokenmeter usage --format json`). */
  query(query: UsageQuery): Promise<UsageRow[]>;
  /**
   * The distinct values of one dimension (a name as `usage --by` takes it) among the records
   * that `query`'s range and filters select (its `by` and `interval` are ignored), sorted, at
   * most `limit`: ask for one more than you show to tell that the list was cut. Throws
   * TokenmeterError TM_USAGE_ARGS on a bad dimension or query, as `query` does.
   */
  dimensionValues(
    dimension: string,
    query: Omit<UsageQuery, 'by' | 'interval'>,
    limit: number,
  ): Promise<DimensionValue[]>;
  /** Number of stored records. */
  count(): Promise<number>;
  /**
   * Recomputes the cost of every record with `since <= time < until` (epoch ms) with `price`
   * (undefined = unpriced, stored as no cost) and stores the ones that changed. Returns how many
   * records were read and how many changed. Token counts and dimensions are never touched.
   */
  reprice(
    range: { since: number; until: number },
    price: (record: UsageRecord) => number | undefined,
  ): Promise<RepriceResult>;
  /**
   * Per subscription among `subscriptions`: the tokens (as `usage` counts them: the total, else
   * prompt + completion) and the cost (NULL costs count 0) of the records with
   * `since <= time < until` (epoch ms). Subscriptions without records are absent. One aggregate
   * over the time range (budgets refresh it every second).
   */
  subscriptionTotals(
    range: { since: number; until: number },
    subscriptions: readonly string[],
  ): Promise<Map<string, SubscriptionTotals>>;
  /**
   * Claims the delivery of one budget alert on one channel, across every gateway sharing the
   * ledger: `claimed` (with the claim to settle) when nobody sent it and nobody else holds a
   * claim younger than `leaseMs`; `sent` when it was delivered already; `busy` otherwise.
   */
  claimBudgetAlert(alert: BudgetAlertKey, now: number, leaseMs: number): Promise<BudgetAlertClaim>;
  /**
   * Settles a claim: `delivered` marks the alert sent for good; otherwise the claim is released
   * so that a later attempt (any gateway) claims it again. A claim taken over by another gateway
   * after its lease is left alone.
   */
  settleBudgetAlert(alert: BudgetAlertKey, claim: string, delivered: boolean, now: number): Promise<void>;
  /**
   * Claims one delivery of a month's chargeback report (schema migration 6), across every
   * gateway and `report --send` sharing the ledger: `claimed` when it was not delivered yet (or
   * `force`) and nobody else holds a claim younger than `leaseMs`; `sent` when it was delivered
   * already and not `force`d; `busy` while another claim on it is live.
   */
  claimReportDelivery(
    delivery: ReportDeliveryKey,
    now: number,
    leaseMs: number,
    force: boolean,
  ): Promise<ReportDeliveryClaim>;
  /**
   * Settles a claim: `delivered` records the delivery (sent_at = now); otherwise the claim is
   * released and nothing is recorded, so the next `--send` or scheduled run retries it.
   */
  settleReportDelivery(
    delivery: ReportDeliveryKey,
    claim: string,
    delivered: boolean,
    now: number,
  ): Promise<void>;
  /** The custom dimension names that occur in stored records. */
  customDimensionNames(): Promise<string[]>;
  /** Releases the connection; the ledger is unusable afterwards. */
  close(): Promise<void>;
}

/** What {@link Ledger.reprice} did. */
export interface RepriceResult {
  /** Records in the range. */
  records: number;
  /** Records whose stored cost changed. */
  changed: number;
}

/** What {@link Ledger.subscriptionTotals} sums per subscription. */
export interface SubscriptionTotals {
  tokens: number;
  /** In `pricing.currency`, as stored; unpriced records add nothing. */
  cost: number;
}

/** One budget alert on one channel: sent at most once (schema migration 5, `budget_alerts`). */
export interface BudgetAlertKey {
  subscription: string;
  /** YYYY-MM in `reports.timezone`. */
  month: string;
  unit: 'tokens' | 'cost';
  /** A percentage of `budget.alertAt`. */
  threshold: number;
  channel: 'webhook' | 'email';
}

/** The outcome of {@link Ledger.claimBudgetAlert}. */
export type BudgetAlertClaim = { state: 'claimed'; claim: string } | { state: 'sent' } | { state: 'busy' };

/** One delivery of a month's chargeback report: sent at most once unless forced (migration 6). */
export interface ReportDeliveryKey {
  /** YYYY-MM in `reports.timezone`. */
  month: string;
  channel: 'email' | 'webhook';
  /** The subscription whose owner receives the e-mail; '' for the webhook (every row). */
  recipient: string;
}

/** The outcome of {@link Ledger.claimReportDelivery}; the same states as a budget alert claim. */
export type ReportDeliveryClaim = BudgetAlertClaim;

/** Where a ledger URL points. */
export type LedgerLocation = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

/** The SQLite path meaning "in memory, gone on close" (tests, throw-away demos). */
export const SQLITE_MEMORY = ':memory:';

/**
 * Parses a ledger URL: `sqlite:PATH` (relative to `cwd`), `sqlite::memory:`, or
 * `postgres://…` / `postgresql://…`. `sqlite:///abs/path` and `sqlite://./rel` are accepted too,
 * as URL-minded users write them. Throws TokenmeterError TM_CONFIG_INVALID otherwise.
 *
 * @example
 * parseLedgerUrl('sqlite:./tokenmeter.db', '/srv'); // { kind: 'sqlite', path: '/srv/tokenmeter.db' }
 */
export function parseLedgerUrl(url: string, cwd: string = process.cwd()): LedgerLocation {
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return { kind: 'postgres', url };
  if (!url.startsWith('sqlite:')) {
    throw new TokenmeterError(
      'TM_CONFIG_INVALID',
      `invalid ledger URL ${JSON.stringify(url)}: expected sqlite:PATH or postgres://…`,
    );
  }
  let path = url.slice('sqlite:'.length);
  if (path.startsWith('//')) path = path.slice(2);
  if (path === '') {
    throw new TokenmeterError(
      'TM_CONFIG_INVALID',
      `invalid ledger URL ${JSON.stringify(url)}: the path is empty`,
    );
  }
  if (path === SQLITE_MEMORY) return { kind: 'sqlite', path };
  return { kind: 'sqlite', path: isAbsolute(path) ? path : resolve(cwd, path) };
}

/** A ledger URL for messages and logs: a postgres:// URL without its password. */
export function describeLedgerUrl(url: string): string {
  return url.startsWith('postgres://') || url.startsWith('postgresql://') ? describePgServer(url) : url;
}

/**
 * Opens the ledger a URL points to (see parseLedgerUrl), creating the SQLite file, its parent
 * directory and its schema when missing, and building its rollups when they do not cover its
 * records yet (`onRollupBuild` reports that build's progress, per UTC day). A postgres:// URL
 * opens the shared ledger (postgres/pg-ledger.ts): its pool connects and its schema migrates
 * on the first call, so an unreachable server shows as methods rejecting TM_LEDGER_UNAVAILABLE.
 */
export function openLedger(
  url: string,
  options: { cwd?: string; onRollupBuild?: RollupBuildProgress } = {},
): Ledger {
  const location = parseLedgerUrl(url, options.cwd);
  if (location.kind === 'postgres') return createPostgresLedger(location.url);
  return createSqliteLedger(
    location.path,
    options.onRollupBuild === undefined ? {} : { onRollupBuild: options.onRollupBuild },
  );
}
