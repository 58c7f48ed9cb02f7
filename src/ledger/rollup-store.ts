import type Database from 'better-sqlite3';
import {
  DAY_MS,
  HOUR_MS,
  REBUILD_DAYS_SQL,
  REBUILD_HOURS_SQL,
  RollupAccumulator,
  UPDATE_DAY_SQL,
  UPDATE_HOUR_SQL,
  UPSERT_DAY_SQL,
  UPSERT_HOUR_SQL,
  type InsertLayout,
} from './rollup-schema.js';
import type { SqlValue } from './sqlite-usage-sql.js';

/** Called after each UTC day a rollup build finishes: days done so far, of `total`. */
export type RollupBuildProgress = (done: number, total: number) => void;

/** The rollup maintenance of one SQLite ledger connection. */
export interface RollupStore {
  /**
   * Adds the records of a write batch (their insert parameters) to the rollups. Call inside the
   * transaction that inserted them, with only the records the insert actually stored.
   */
  addRecords(records: readonly (readonly SqlValue[])[]): void;
  /**
   * Rebuilds from raw records the hour rows of the given hour starts and the day rows of their
   * days. Call inside the transaction that changed those records (reprice).
   */
  rebuildHours(hours: Iterable<number>): void;
  /** Whether the rollups cover every record (the build on open has finished). */
  isComplete(): boolean;
  /**
   * Marks the rollups incomplete, so the next open rebuilds them: for a connection that writes
   * records without maintaining rollups. Call inside the writing transaction.
   */
  invalidate(): void;
  /**
   * Builds the rollups of a ledger that has records they do not cover, one UTC day per
   * IMMEDIATE transaction (deleting that day's rows, then aggregating its raw records), so a
   * concurrent writer maintaining rollups on the same file never causes double counts. Resumes
   * where an interrupted build stopped. Does nothing when complete.
   */
  build(onProgress?: RollupBuildProgress): void;
}

interface StateRow {
  complete: number;
  built_through: number | null;
  build_end: number | null;
}

/** Maintains the rollup tables (rollup-schema.ts) of an open, migrated ledger database. */
export function createRollupStore(db: Database.Database, layout: InsertLayout): RollupStore {
  const upsertHour = db.prepare<SqlValue[]>(UPSERT_HOUR_SQL);
  const upsertDay = db.prepare<SqlValue[]>(UPSERT_DAY_SQL);
  const updateHour = db.prepare<SqlValue[]>(UPDATE_HOUR_SQL);
  const updateDay = db.prepare<SqlValue[]>(UPDATE_DAY_SQL);
  const readState = db.prepare<[], StateRow>(
    'SELECT complete, built_through, build_end FROM usage_rollup_state WHERE id = 1',
  );
  const setState = db.prepare<[number, number | null, number | null]>(
    'UPDATE usage_rollup_state SET complete = ?, built_through = ?, build_end = ? WHERE id = 1',
  );
  const deleteHours = db.prepare<{ from: number; to: number }>(
    'DELETE FROM usage_rollup_hour WHERE bucket >= @from AND bucket < @to',
  );
  const deleteDays = db.prepare<{ from: number; to: number }>(
    'DELETE FROM usage_rollup_day WHERE bucket >= @from AND bucket < @to',
  );
  const insertHours = db.prepare<{ from: number; to: number }>(REBUILD_HOURS_SQL);
  const insertDays = db.prepare<{ from: number; to: number }>(REBUILD_DAYS_SQL);
  const firstTimeFrom = db
    .prepare<[number], number | null>('SELECT MIN(time) FROM usage_records WHERE time >= ?')
    .pluck();
  const lastTime = db.prepare<[], number | null>('SELECT MAX(time) FROM usage_records').pluck();

  function rebuildDays(days: Iterable<number>): void {
    for (const day of days) {
      deleteDays.run({ from: day, to: day + DAY_MS });
      insertDays.run({ from: day, to: day + DAY_MS });
    }
  }

  function rebuildDay(day: number): void {
    deleteHours.run({ from: day, to: day + DAY_MS });
    insertHours.run({ from: day, to: day + DAY_MS });
    rebuildDays([day]);
  }

  const floorDay = (t: number): number => Math.floor(t / DAY_MS) * DAY_MS;

  return {
    addRecords(records) {
      if (records.length === 0) return;
      const sums = new RollupAccumulator(layout);
      for (const params of records) sums.add(params);
      RollupAccumulator.write(
        sums.hours,
        (p) => updateHour.run(...p).changes,
        (p) => void upsertHour.run(...p),
      );
      RollupAccumulator.write(
        sums.days,
        (p) => updateDay.run(...p).changes,
        (p) => void upsertDay.run(...p),
      );
    },
    rebuildHours(hours) {
      const days = new Set<number>();
      for (const hour of hours) {
        deleteHours.run({ from: hour, to: hour + HOUR_MS });
        insertHours.run({ from: hour, to: hour + HOUR_MS });
        days.add(floorDay(hour));
      }
      rebuildDays(days);
    },
    isComplete: () => readState.get()?.complete === 1,
    invalidate() {
      setState.run(0, null, null);
    },
    build(onProgress) {
      const start = db.transaction((): StateRow | undefined => {
        const state = readState.get();
        if (state === undefined || state.complete === 1) return undefined;
        if (state.built_through !== null && state.build_end !== null) return state;
        // First run: fix the range now. Records written later come from writers that maintain
        // rollups themselves; the days rebuilt here replace whatever they added there.
        const first = firstTimeFrom.get(Number.MIN_SAFE_INTEGER) ?? 0;
        const last = lastTime.get() ?? 0;
        const begun = { complete: 0, built_through: floorDay(first), build_end: floorDay(last) + DAY_MS };
        setState.run(0, begun.built_through, begun.build_end);
        return begun;
      });
      const state = start.immediate();
      if (state?.built_through == null || state.build_end == null) return;
      const { built_through: from, build_end: end } = state;
      const total = Math.max(1, Math.round((end - from) / DAY_MS));
      // Each day in its own IMMEDIATE transaction: the day's rows are never seen half-built,
      // and an interruption loses at most the day in progress.
      const buildDay = db.transaction((day: number): number => {
        rebuildDay(day);
        // Skip empty days: a ledger may span years with gaps.
        const next = firstTimeFrom.get(day + DAY_MS);
        const through = next === null || next === undefined ? end : Math.min(end, floorDay(next));
        setState.run(through >= end ? 1 : 0, through, end);
        return through;
      });
      for (let day = from; day < end;) {
        day = buildDay.immediate(day);
        onProgress?.(Math.round((day - from) / DAY_MS), total);
      }
      if (from >= end) setState.run(1, end, end);
    },
  };
}
