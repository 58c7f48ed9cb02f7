import { TOKEN_DETAIL_FIELDS, USAGE_FIELDS, type TokenDetails, type UsageSource } from '../usage.js';
import { DEFAULT_DIMENSION_KEYS, RECORD_FLAGS, type RecordFlag, type UsageRecord } from './record.js';

const SOURCES: readonly UsageSource[] = ['reported', 'estimated', 'partial'];

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

// What the gateway's usage readers accept (usage.ts readCount), so that no written record fails.
const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0;

/**
 * Narrows a JSON value read back from the fallback journal to a UsageRecord, or undefined when it
 * is not one. Checks what the ledger's columns require (so that a record that passes is one the
 * ledger can store), not more: a record the gateway wrote always passes.
 */
export function parseJournalRecord(value: unknown): UsageRecord | undefined {
  if (!isObject(value)) return undefined;
  const { id, time, api, operation, stream, custom, source, status, latencyMs } = value;
  if (typeof id !== 'string' || id === '') return undefined;
  if (typeof time !== 'number' || !Number.isFinite(time)) return undefined;
  if (typeof api !== 'string' || typeof operation !== 'string' || typeof stream !== 'boolean')
    return undefined;
  if (!isObject(custom) || !Object.values(custom).every((v) => typeof v === 'string')) return undefined;
  if (!SOURCES.includes(source as UsageSource)) return undefined;
  if (typeof status !== 'number' || !Number.isInteger(status)) return undefined;
  if (typeof latencyMs !== 'number' || !Number.isFinite(latencyMs)) return undefined;
  const record: UsageRecord = {
    id,
    time,
    api,
    operation,
    stream,
    custom: custom as Record<string, string>,
    source: source as UsageSource,
    status,
    latencyMs,
  };
  for (const key of DEFAULT_DIMENSION_KEYS) {
    if (key === 'api' || key === 'operation' || key === 'stream') continue;
    const dim = value[key];
    if (dim === undefined) continue;
    if (typeof dim !== 'string') return undefined;
    record[key] = dim;
  }
  for (const key of USAGE_FIELDS) {
    const count = value[key];
    if (count === undefined) continue;
    if (!isCount(count)) return undefined;
    record[key] = count;
  }
  const { upstreamRequestId, cost, flags, providerCost, tokenDetails } = value;
  if (upstreamRequestId !== undefined) {
    if (typeof upstreamRequestId !== 'string') return undefined;
    record.upstreamRequestId = upstreamRequestId;
  }
  if (cost !== undefined) {
    if (typeof cost !== 'number' || !Number.isFinite(cost)) return undefined;
    record.cost = cost;
  }
  if (flags !== undefined) {
    if (!Array.isArray(flags) || !flags.every((f) => RECORD_FLAGS.includes(f as RecordFlag)))
      return undefined;
    record.flags = flags as RecordFlag[];
  }
  if (providerCost !== undefined) {
    if (typeof providerCost !== 'number' || !Number.isFinite(providerCost)) return undefined;
    record.providerCost = providerCost;
  }
  if (tokenDetails !== undefined) {
    const details = readTokenDetails(tokenDetails);
    if (details === undefined) return undefined;
    record.tokenDetails = details;
  }
  return record;
}

/** A record's `tokenDetails`: an object of counts under TOKEN_DETAIL_FIELDS names only, or undefined. */
function readTokenDetails(value: unknown): TokenDetails | undefined {
  if (!isObject(value)) return undefined;
  const details: TokenDetails = {};
  for (const [key, count] of Object.entries(value)) {
    if (!(TOKEN_DETAIL_FIELDS as readonly string[]).includes(key) || !isCount(count)) return undefined;
    details[key as keyof TokenDetails] = count;
  }
  return details;
}
