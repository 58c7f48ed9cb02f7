import type { Ledger } from '../ledger.js';
import type { PgSql } from './pg-connect.js';

/** The ledger's claims (budget alerts, report deliveries) on PostgreSQL (schema migration 2). */
export type PgClaims = Pick<
  Ledger,
  'claimBudgetAlert' | 'settleBudgetAlert' | 'claimReportDelivery' | 'settleReportDelivery'
>;

/**
 * Claims on the shared ledger, with the semantics of the SQLite ledger's (ledger.ts).
 * `ready` resolves once the schema is migrated.
 */
export function createPgClaims(sql: PgSql, ready: Promise<unknown>): PgClaims {
  const unavailable = async (): Promise<never> => {
    await ready;
    void sql;
    throw new Error('PostgreSQL claims are being built (issue #11)');
  };
  return {
    claimBudgetAlert: unavailable,
    settleBudgetAlert: unavailable,
    claimReportDelivery: unavailable,
    settleReportDelivery: unavailable,
  };
}
