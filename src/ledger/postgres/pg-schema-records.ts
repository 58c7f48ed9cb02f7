import { DAY_DIMENSIONS, HOUR_DIMENSIONS, ROLLUP_FIGURES } from '../rollup-schema.js';
import { DIMENSION_COLUMNS, TOKEN_COLUMNS } from '../sqlite-usage-sql.js';
import { USAGE_FIELDS } from '../../usage.js';
import type { PgMigration } from './pg-migrations.js';

/**
 * Migration 1 of the shared ledger: usage records, their rollups and the custom dimension names.
 *
 * `usage_records` is partitioned by RANGE on `time` (epoch milliseconds, as in SQLite), one
 * partition per UTC month, created on demand before the batch that needs it (pg-partitions.ts):
 * old months can be detached or dropped whole, and a query over a range prunes the others.
 * A partitioned table's unique keys must hold the partition key: (id, time) is uniqueness by id,
 * since a record's time never changes.
 *
 * The rollups mirror the SQLite ledger's (rollup-schema.ts): hour rows with every dimension and
 * the custom JSON, core hour and day rows without user, ip and custom. Unlike SQLite's, they are
 * updated in the transaction that inserts the records (pg-append-sql.ts), so they are always
 * exact and nothing is ever marked or rebuilt but by a reprice. Dimension columns are nullable:
 * the unique keys are NULLS NOT DISTINCT (PostgreSQL 15), so a NULL value is one group as in
 * GROUP BY, and `ON CONFLICT` meets it.
 */

const HOUR_COLUMNS = HOUR_DIMENSIONS.map((key) => DIMENSION_COLUMNS[key]);
const DAY_COLUMNS = DAY_DIMENSIONS.map((key) => DIMENSION_COLUMNS[key]);

function columnType(column: string): string {
  return column === 'stream' ? 'smallint' : 'text';
}

function rollupTableSql(name: string, columns: readonly string[], custom: boolean): string {
  const keyColumns = ['bucket', ...columns, ...(custom ? ['custom'] : []), 'unpriced'];
  return `CREATE TABLE ${name} (
     bucket bigint NOT NULL,
     ${columns.map((c) => `${c} ${columnType(c)}`).join(', ')},
     ${custom ? "custom jsonb NOT NULL DEFAULT '{}'," : ''}
     unpriced boolean NOT NULL,
     ${ROLLUP_FIGURES.map((f) => `${f} ${f === 'cost_sum' ? 'double precision' : 'bigint'} NOT NULL`).join(', ')},
     CONSTRAINT ${name}_key UNIQUE NULLS NOT DISTINCT (${keyColumns.join(', ')})
   );`;
}

const RECORDS_SQL = `
CREATE TABLE usage_records (
  id text NOT NULL,
  time bigint NOT NULL,
  api text NOT NULL,
  operation text NOT NULL,
  product text, "user" text, subscription text, ip text, location text, gateway text,
  backend text, model text, response_model text, provider text,
  stream smallint NOT NULL CHECK (stream IN (0, 1)),
  custom jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(custom) = 'object'),
  ${USAGE_FIELDS.map((k) => `${TOKEN_COLUMNS[k]} bigint`).join(', ')},
  source text NOT NULL CHECK (source IN ('reported', 'estimated', 'partial')),
  status integer NOT NULL,
  latency_ms double precision NOT NULL,
  upstream_request_id text,
  cost double precision,
  flags text,
  PRIMARY KEY (id, time)
) PARTITION BY RANGE (time);
CREATE INDEX usage_records_time ON usage_records (time);
CREATE INDEX usage_records_subscription_time ON usage_records (subscription, time);
${rollupTableSql('usage_rollup_hour', HOUR_COLUMNS, true)}
${rollupTableSql('usage_rollup_core_hour', DAY_COLUMNS, false)}
${rollupTableSql('usage_rollup_day', DAY_COLUMNS, false)}
CREATE TABLE usage_custom_names (name text PRIMARY KEY);
`;

/** Migration 1: usage records (partitioned by month), rollups, custom dimension names. */
export const RECORD_MIGRATIONS: readonly PgMigration[] = [
  { version: 1, name: 'usage records, rollups, custom dimension names', sql: RECORDS_SQL },
  // The cost a provider reported itself (OpenRouter's usage.cost), beside the catalog cost;
  // NULL when it reported none. Added on the partitioned parent, so every partition has it.
  // With it, how the counts divide by modality (TokenDetails) as JSON text; NULL when not reported.
  {
    version: 3,
    name: 'provider-reported cost, token details',
    sql: 'ALTER TABLE usage_records ADD COLUMN provider_cost float8, ADD COLUMN token_details text',
  },
];
