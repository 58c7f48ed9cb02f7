import type { PgMigration } from './pg-migrations.js';

/** Migration 1: usage records (partitioned by month), rollups, custom dimension names. */
export const RECORD_MIGRATIONS: readonly PgMigration[] = [];
