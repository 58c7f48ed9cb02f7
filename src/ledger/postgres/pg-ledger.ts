import { TokenmeterError } from '../../errors.js';
import {
  resolveUsageQuery,
  sortUsageRows,
  toDimensionValue,
  toUsageRow,
  type ResolvedUsageQuery,
  type UsageQuery,
} from '../../reports/usage-query.js';
import type { Ledger, SubscriptionTotals } from '../ledger.js';
import type { UsageRecord } from '../record.js';
import { isDayEligible, MAX_PIECES, planRollupPieces, type RollupPiece } from '../rollup-plan.js';
import { APPEND_SQL, toColumnArrays } from './pg-append-sql.js';
import { createPgClaims } from './pg-claims.js';
import { connectPostgres, type PgSql } from './pg-connect.js';
import { isPgRecordError, PgRecordRefused, isPgRetryable, pgEndpoint, toLedgerError } from './pg-errors.js';
import { migratePostgres } from './pg-migrations.js';
import { createPartitionKeeper } from './pg-partitions.js';
import { repricePg, ROLLUP_LOCK } from './pg-reprice.js';
import { buildPgDimensionValuesSql, buildPgUsageSql, PG_RECORD_TOKENS } from './pg-usage-sql.js';

/** Connection settings for tools, tests and benchmarks; the gateway uses the defaults. */
export interface PostgresLedgerOptions {
  /** Connections in the pool (default 4). */
  maxConnections?: number;
  /** Seconds to wait for a connection before a method fails TM_LEDGER_UNAVAILABLE (default 5). */
  connectTimeoutSec?: number;
  /** Times a batch is retried after a deadlock or serialization failure (default 5). */
  conflictRetries?: number;
}

/** A PostgreSQL ledger; also exposes `planUsage` for tests and tooling. */
export interface PostgresLedger extends Ledger {
  /** The pieces `query` would read (rollup-plan.ts). */
  planUsage(query: UsageQuery): RollupPiece[];
}

/** A query's time range alone. */
function range(q: ResolvedUsageQuery): Pick<ResolvedUsageQuery, 'since' | 'until'> {
  return {
    ...(q.since !== undefined && { since: q.since }),
    ...(q.until !== undefined && { until: q.until }),
  };
}

/**
 * The pieces a resolved query reads: rollups for the full hours and days, raw records for the
 * partial hours at each end. The rollups are updated in the append's own transaction, so no
 * hour is ever marked as behind (unlike SQLite's in-memory deltas).
 */
function plan(q: ResolvedUsageQuery): RollupPiece[] {
  const pieces = planRollupPieces(q, isDayEligible(q));
  return pieces.length > MAX_PIECES ? [{ source: 'raw', ...range(q) }] : pieces;
}

/** Parses a postgres:// URL, refusing a malformed one with TM_CONFIG_INVALID (no password shown). */
function parsePgUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TokenmeterError(
      'TM_CONFIG_INVALID',
      `invalid PostgreSQL ledger URL ${JSON.stringify(url.replace(/\/\/[^@/]*@/, '//***@'))}: expected postgres://user:password@host:port/database`,
    );
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new TokenmeterError('TM_CONFIG_INVALID', `invalid PostgreSQL ledger URL scheme ${parsed.protocol}`);
  }
  return parsed;
}

/**
 * Opens the shared PostgreSQL ledger at `url`. Synchronous: the pool connects on its first
 * query, and the schema is migrated (pg-migrations.ts) before the first method's work, behind
 * a `ready` step every method awaits. Until the server answers, methods reject with
 * TokenmeterError TM_LEDGER_UNAVAILABLE (naming host:port and the cause); the migration is
 * tried again by the next call, so a gateway started while PostgreSQL is down recovers once
 * it is back. Nothing runs, and nothing can reject unobserved, until a method is called.
 */
export function createPostgresLedger(url: string, options: PostgresLedgerOptions = {}): PostgresLedger {
  const endpoint = pgEndpoint(parsePgUrl(url));
  const sql: PgSql = connectPostgres(url, {
    ...(options.maxConnections !== undefined && { max: options.maxConnections }),
    ...(options.connectTimeoutSec !== undefined && { connectTimeoutSec: options.connectTimeoutSec }),
  });
  const retries = options.conflictRetries ?? 5;
  const partitions = createPartitionKeeper(sql);
  let closed = false;

  let migrated: Promise<void> | undefined;
  const ensureReady = (): Promise<void> => {
    if (closed) return Promise.reject(new TokenmeterError('TM_LEDGER_UNAVAILABLE', 'the ledger is closed'));
    migrated ??= migratePostgres(sql).then(
      () => undefined,
      (err: unknown) => {
        migrated = undefined; // the next call tries again
        throw toLedgerError(err, endpoint);
      },
    );
    return migrated;
  };
  // A promise-like that starts the migration only when awaited (the claims await it).
  const ready = {
    then: <A, B>(onFulfilled?: (v: void) => A, onRejected?: (e: unknown) => B) =>
      ensureReady().then(onFulfilled, onRejected),
    catch: <B>(onRejected?: (e: unknown) => B) => ensureReady().catch(onRejected),
    finally: (onFinally?: () => void) => ensureReady().finally(onFinally),
    [Symbol.toStringTag]: 'Promise',
  } as Promise<void>;

  /** Runs `work` once the schema is ready, with connection errors as TM_LEDGER_UNAVAILABLE. */
  async function run<T>(work: () => Promise<T>): Promise<T> {
    await ensureReady();
    try {
      return await work();
    } catch (err) {
      throw toLedgerError(err, endpoint);
    }
  }

  async function appendBatch(records: readonly UsageRecord[]): Promise<void> {
    if (records.length === 0) return;
    // A time outside any month would reach no partition; refused as the record's own fault.
    const bad = records.find((r) => !Number.isSafeInteger(Math.trunc(r.time)));
    if (bad !== undefined)
      throw new PgRecordRefused(`record ${bad.id} has an invalid time ${String(bad.time)}`);
    await run(async () => {
      await partitions.ensure(records.map((r) => Math.trunc(r.time)));
      const params = toColumnArrays(records);
      for (let attempt = 0; ; attempt += 1) {
        try {
          await sql.begin(async (tx) => {
            await tx`SELECT pg_advisory_xact_lock_shared(${ROLLUP_LOCK})`;
            await tx.unsafe(APPEND_SQL, params as never);
          });
          return;
        } catch (err) {
          if (attempt >= retries || !isPgRetryable(err)) throw err;
          await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * (attempt + 1)));
        }
      }
    });
  }

  async function runQuery(query: UsageQuery) {
    const q = resolveUsageQuery(query);
    return run(async () => {
      const { sql: text, params } = buildPgUsageSql(q, plan(q));
      const raw = await sql.unsafe<Record<string, unknown>[]>(text, params as never);
      const rows = raw.filter((r) => Number(r['requests']) > 0).map((r) => toUsageRow(q, r));
      return sortUsageRows(q, rows);
    });
  }

  async function runDimensionValues(name: string, query: Omit<UsageQuery, 'by' | 'interval'>, limit: number) {
    const q = resolveUsageQuery({ ...query, by: [name] });
    const [dimension] = q.by;
    if (dimension === undefined) return [];
    return run(async () => {
      // No interval: dimensionValues ignores one, whatever the caller passed.
      const pieces = plan({ by: q.by, where: q.where, ...range(q) });
      const { sql: text, params } = buildPgDimensionValuesSql(q, dimension, pieces, limit);
      const rows = await sql.unsafe<{ v: unknown }[]>(text, params as never);
      return rows.map((row) => toDimensionValue(dimension, row.v));
    });
  }

  async function runSubscriptionTotals(
    range: { since: number; until: number },
    subscriptions: readonly string[],
  ): Promise<Map<string, SubscriptionTotals>> {
    const totals = new Map<string, SubscriptionTotals>();
    if (subscriptions.length === 0) return totals;
    const rows = await run(() =>
      sql.unsafe<{ subscription: string; tokens: number; cost: number }[]>(
        `SELECT subscription, COALESCE(SUM(${PG_RECORD_TOKENS}), 0) AS tokens, COALESCE(SUM(cost), 0) AS cost
         FROM usage_records
         WHERE time >= $1::bigint AND time < $2::bigint AND subscription = ANY($3::text[])
         GROUP BY subscription`,
        [range.since, range.until, [...subscriptions]] as never,
      ),
    );
    for (const row of rows)
      totals.set(row.subscription, { tokens: Number(row.tokens), cost: Number(row.cost) });
    return totals;
  }

  const claims = createPgClaims(sql, ready);

  return {
    append: (record) => appendBatch([record]),
    appendBatch,
    rejectsRecord: (err) => !closed && isPgRecordError(err),
    query: runQuery,
    dimensionValues: runDimensionValues,
    // The day rollup counts every record, exactly: it is written with them.
    count: () =>
      run(async () => {
        const [row] = await sql<
          { n: number }[]
        >`SELECT COALESCE(SUM(requests), 0) AS n FROM usage_rollup_day`;
        return Number(row?.n ?? 0);
      }),
    customDimensionNames: () =>
      run(async () => {
        const rows = await sql<{ name: string }[]>`SELECT name FROM usage_custom_names`;
        return rows.map((r) => r.name).sort();
      }),
    reprice: (range, price) => run(() => repricePg(sql, range, price)),
    subscriptionTotals: runSubscriptionTotals,
    claimBudgetAlert: (...args) => run(() => claims.claimBudgetAlert(...args)),
    settleBudgetAlert: (...args) => run(() => claims.settleBudgetAlert(...args)),
    claimReportDelivery: (...args) => run(() => claims.claimReportDelivery(...args)),
    settleReportDelivery: (...args) => run(() => claims.settleReportDelivery(...args)),
    planUsage: (query) => plan(resolveUsageQuery(query)),
    close: async () => {
      if (closed) return;
      closed = true;
      await sql.end({ timeout: 5 });
    },
  };
}
