import type { PgSql } from './pg-connect.js';

/**
 * The monthly partitions of `usage_records` (pg-schema-records.ts), created on demand before a
 * batch that needs one. Creation is serialised across gateways by an advisory lock and uses
 * `CREATE TABLE IF NOT EXISTS … PARTITION OF`, so two instances meeting a new month at once
 * create it once; a duplicate error that slips through anyway (a catalog race) is retried.
 */

/** The advisory lock key that serialises partition creation ('tkpt'). */
const PARTITION_LOCK = 0x746b7074;

/** PostgreSQL error codes of a relation or type created concurrently. */
const DUPLICATE_CODES: ReadonlySet<string> = new Set(['42P07', '23505', '42710']);

/** One UTC month: its start and end in epoch milliseconds, and its partition's name. */
export interface MonthPartition {
  name: string;
  from: number;
  to: number;
}

/** The UTC month holding `time` (epoch ms). */
export function monthOf(time: number): MonthPartition {
  const date = new Date(time);
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth();
  const from = Date.UTC(year, month, 1);
  const to = Date.UTC(year, month + 1, 1);
  const y = year < 0 ? `n${-year}` : String(year).padStart(4, '0');
  return { name: `usage_records_y${y}m${String(month + 1).padStart(2, '0')}`, from, to };
}

export interface PartitionKeeper {
  /** Creates the partitions of the months of these times that this instance has not seen yet. */
  ensure(times: Iterable<number>): Promise<void>;
}

export function createPartitionKeeper(sql: PgSql): PartitionKeeper {
  // Months known to exist: a partition is never dropped while a gateway runs.
  const known = new Set<number>();
  async function create(month: MonthPartition): Promise<void> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        await sql.begin(async (tx) => {
          await tx`SELECT pg_advisory_xact_lock(${PARTITION_LOCK})`;
          // Identifiers and bounds come from monthOf: digits and a fixed prefix only.
          await tx.unsafe(
            `CREATE TABLE IF NOT EXISTS ${month.name} PARTITION OF usage_records
             FOR VALUES FROM (${month.from}) TO (${month.to})`,
          );
        });
        return;
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (attempt >= 3 || typeof code !== 'string' || !DUPLICATE_CODES.has(code)) throw err;
      }
    }
  }
  return {
    async ensure(times) {
      const missing = new Map<number, MonthPartition>();
      for (const time of times) {
        const month = monthOf(time);
        if (!known.has(month.from)) missing.set(month.from, month);
      }
      if (missing.size === 0) return;
      const existing = await sql<{ name: string }[]>`
        SELECT c.relname AS name FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'usage_records'::regclass`;
      const names = new Set(existing.map((r) => r.name));
      for (const month of [...missing.values()].sort((a, b) => a.from - b.from)) {
        if (!names.has(month.name)) await create(month);
        known.add(month.from);
      }
    },
  };
}
