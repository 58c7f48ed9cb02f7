import type Database from 'better-sqlite3';
import { HOUR_MS } from './rollup-schema.js';
import type { SqlValue } from './sqlite-usage-sql.js';

/**
 * The custom dimension names the ledger holds, kept in `usage_custom_names` (schema migration 7)
 * beside the rollups, so that listing them (every `/api/dimensions`, every `usage` with a custom
 * dimension) reads a handful of rows instead of the JSON of every record. The table only grows:
 * records are never deleted and their custom dimensions never change.
 *
 * It is filled where the rollups are: from the records a connection commits (written with its
 * rollup flush) and from the hour rows a rebuild aggregates. Until a connection's flush, its
 * records' hours are marked (rollup-store.ts), and `read` takes the names of the records of
 * marked hours from the records themselves: the answer is exact at every moment.
 */
export interface CustomNameIndex {
  /** Notes the custom JSON texts of committed records (cheap: a Set lookup per record). */
  note(records: readonly (readonly SqlValue[])[]): void;
  /** Stores the names noted since the last call; run inside the rollup flush transaction. */
  flush(): void;
  /** Adds the names of the hour rollup rows of [from, to); run after a rebuild of those hours. */
  fillFromHours(from: number, to: number): void;
  /** Every name, given the marked hours; call inside a read transaction. */
  read(markedHours: readonly number[]): string[];
}

/** Custom JSON texts remembered as seen; past it the memory starts over (names stay known). */
const SEEN_TEXTS = 10_000;

export function createCustomNameIndex(db: Database.Database, customIndex: number): CustomNameIndex {
  const insert = db.prepare<[string]>('INSERT OR IGNORE INTO usage_custom_names (name) VALUES (?)');
  const fromHours = db.prepare<{ from: number; to: number }>(
    `INSERT OR IGNORE INTO usage_custom_names (name)
     SELECT DISTINCT j.key FROM usage_rollup_hour AS h, json_each(h.custom) AS j
     WHERE h.bucket >= @from AND h.bucket < @to AND h.custom <> '{}'`,
  );
  const stored = db.prepare<[], string>('SELECT name FROM usage_custom_names').pluck();
  const inRecords = db
    .prepare<{ from: number; to: number }, string>(
      `SELECT DISTINCT j.key FROM usage_records AS r, json_each(r.custom) AS j
       WHERE r.time >= @from AND r.time < @to AND r.custom <> '{}'`,
    )
    .pluck();
  const seenTexts = new Set<string>();
  const knownNames = new Set<string>();
  const pending = new Set<string>();

  return {
    note(records) {
      for (const params of records) {
        const text = params[customIndex];
        if (typeof text !== 'string' || text === '{}' || seenTexts.has(text)) continue;
        if (seenTexts.size >= SEEN_TEXTS) seenTexts.clear();
        seenTexts.add(text);
        for (const name of Object.keys(JSON.parse(text) as object))
          if (!knownNames.has(name)) pending.add(name);
      }
    },
    flush() {
      for (const name of pending) {
        insert.run(name);
        knownNames.add(name);
      }
      pending.clear();
    },
    fillFromHours(from, to) {
      fromHours.run({ from, to });
    },
    read(markedHours) {
      const names = new Set(stored.all());
      for (const hour of markedHours)
        for (const name of inRecords.all({ from: hour, to: hour + HOUR_MS })) names.add(name);
      return [...names].sort();
    },
  };
}
