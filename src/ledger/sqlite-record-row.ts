import { USAGE_FIELDS, type TokenDetails, type UsageSource } from '../usage.js';
import type { InsertLayout } from './rollup-deltas.js';
import { DIMENSION_COLUMNS, TOKEN_COLUMNS, type SqlValue } from './sqlite-usage-sql.js';
import type { DefaultDimensionKey, RecordFlag, UsageRecord } from './record.js';

/** A usage record as a row of `usage_records`: its insert statement, parameters and reading. */
const INSERT_COLUMNS = [
  'id',
  'time',
  ...Object.values(DIMENSION_COLUMNS),
  'custom',
  ...Object.values(TOKEN_COLUMNS),
  'source',
  'status',
  'latency_ms',
  'upstream_request_id',
  'cost',
  'flags',
  'provider_cost',
  'token_details',
];

/** Where the rollups find a record's values in its insert parameters. */
export const INSERT_LAYOUT: InsertLayout = {
  time: INSERT_COLUMNS.indexOf('time'),
  firstDimension: INSERT_COLUMNS.indexOf('api'),
  custom: INSERT_COLUMNS.indexOf('custom'),
  firstToken: INSERT_COLUMNS.indexOf(TOKEN_COLUMNS.promptTokens),
  source: INSERT_COLUMNS.indexOf('source'),
  cost: INSERT_COLUMNS.indexOf('cost'),
};

/**
 * Idempotent by key, and only by key (a retried append sends the same record): `INSERT OR
 * IGNORE` would also swallow NOT NULL and CHECK violations, silently dropping a malformed
 * record. The same statement runs on PostgreSQL. Positional parameters in INSERT_COLUMNS order
 * (toParams): no per-call object with 27 named keys to build.
 */
export const INSERT_SQL = `INSERT INTO usage_records (${INSERT_COLUMNS.join(', ')})
  VALUES (${INSERT_COLUMNS.map(() => '?').join(', ')})
  ON CONFLICT (time, id) DO NOTHING`;

/** A record's insert parameters (INSERT_SQL). */
export function toParams(r: UsageRecord): SqlValue[] {
  const dims = (Object.keys(DIMENSION_COLUMNS) as DefaultDimensionKey[]).map((key): SqlValue => {
    const value = r[key];
    if (typeof value === 'boolean') return value ? 1 : 0;
    return value ?? null;
  });
  const tokens = USAGE_FIELDS.map((key) => r[key] ?? null);
  return [
    r.id,
    Math.trunc(r.time),
    ...dims,
    JSON.stringify(r.custom),
    ...tokens,
    r.source,
    r.status,
    r.latencyMs,
    r.upstreamRequestId ?? null,
    r.cost ?? null,
    r.flags !== undefined && r.flags.length > 0 ? r.flags.join(',') : null,
    r.providerCost ?? null,
    r.tokenDetails !== undefined ? JSON.stringify(r.tokenDetails) : null,
  ];
}

/** A stored row back as a record; token counts not reported stay undefined. */
export function fromRow(row: Readonly<Record<string, unknown>>): UsageRecord {
  const record: UsageRecord = {
    id: String(row['id']),
    time: Number(row['time']),
    api: String(row['api']),
    operation: String(row['operation']),
    stream: row['stream'] === 1,
    custom: JSON.parse(String(row['custom'])) as Record<string, string>,
    source: String(row['source']) as UsageSource,
    status: Number(row['status']),
    latencyMs: Number(row['latency_ms']),
  };
  for (const key of Object.keys(DIMENSION_COLUMNS) as DefaultDimensionKey[]) {
    if (key === 'api' || key === 'operation' || key === 'stream') continue;
    const value = row[DIMENSION_COLUMNS[key].replaceAll('"', '')];
    if (typeof value === 'string') record[key] = value;
  }
  for (const key of USAGE_FIELDS) {
    const value = row[TOKEN_COLUMNS[key]];
    if (typeof value === 'number') record[key] = value;
  }
  if (typeof row['upstream_request_id'] === 'string') record.upstreamRequestId = row['upstream_request_id'];
  if (typeof row['cost'] === 'number') record.cost = row['cost'];
  if (typeof row['flags'] === 'string' && row['flags'] !== '')
    record.flags = row['flags'].split(',') as RecordFlag[];
  if (typeof row['provider_cost'] === 'number') record.providerCost = row['provider_cost'];
  if (typeof row['token_details'] === 'string')
    record.tokenDetails = JSON.parse(row['token_details']) as TokenDetails;
  return record;
}
