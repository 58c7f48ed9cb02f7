import type { PgMigration } from './pg-migrations.js';

/** Migration 2: managed keys and subscriptions, budget alert and report delivery claims. */
export const SHARED_STATE_MIGRATIONS: readonly PgMigration[] = [];
