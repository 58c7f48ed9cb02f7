import type Database from 'better-sqlite3';
import { createCustomNameIndex } from './custom-name-index.js';
import { RollupDeltas, type InsertLayout } from './rollup-deltas.js';
import {
  ADJUST_DAY_SQL,
  DAY_MS,
  HOUR_MS,
  REBUILD_CORE_HOURS_SQL,
  REBUILD_DAYS_SQL,
  REBUILD_HOURS_SQL,
  UPDATE_CORE_HOUR_SQL,
  UPDATE_DAY_SQL,
  UPDATE_HOUR_SQL,
  UPSERT_CORE_HOUR_SQL,
  UPSERT_DAY_SQL,
  UPSERT_HOUR_SQL,
} from './rollup-schema.js';
import type { SqlValue } from './sqlite-usage-sql.js';

/** Called after each UTC day a rollup build finishes: days done so far, of `total`. */
export type RollupBuildProgress = (done: number, total: number) => void;

/** Rollup settings of one connection (SqliteLedgerOptions). */
export interface RollupStoreOptions {
  /** An owner whose heartbeat is older than this is dead and its marks stale (ms). */
  leaseMs: number;
  /** Random id of this connection in usage_rollup_pending / usage_rollup_owners. */
  owner: string;
}

/**
 * The rollup maintenance of one SQLite ledger connection.
 *
 * Write path: a record's figures go to in-memory deltas (rollup-deltas.ts) after its
 * transaction commits; the transaction itself only marks the record's hour in
 * usage_rollup_pending under this owner, once per hour between two flushes. Invariant: a
 * committed record whose figures are not in the rollup tables has its hour marked by a live
 * owner (which will add them) or by a stale one (whose hour is rebuilt from raw records).
 *
 * Flush (timer, size, close): one IMMEDIATE transaction adds every delta to the hour and day
 * rows, deletes this owner's marks and renews its heartbeat. Day rows are always the sum of
 * their hour rows: every change adds the same figures to both.
 *
 * Recovery: an hour marked only by dead owners (or by '', "rebuild me") is rebuilt from raw
 * records, in one IMMEDIATE transaction that checks first that no live owner marks it (a live
 * owner's unflushed delta would be counted twice): the day rows lose the hour's old rows and
 * gain its new ones, so a day stays exact even while other hours of it await other owners'
 * flushes. A marked hour is read from raw records, a day with a marked hour from the hour
 * rollup and raw records: queries are exact at all times (rollup-plan.ts).
 */
export interface RollupStore {
  /**
   * Marks the hours of stored records (their insert parameters) that this owner has not
   * marked since its last flush. Call inside the transaction that stored them; returns the
   * hours it marked, to pass to `committed`.
   */
  markRecords(records: readonly (readonly SqlValue[])[]): Set<number> | undefined;
  /** Adds the records to the in-memory deltas once their transaction has committed. */
  committed(records: readonly (readonly SqlValue[])[], marked: Set<number> | undefined): void;
  /** Writes the deltas (see above). Returns false, keeping them, when the database refused. */
  flush(): boolean;
  /**
   * Before a write: when half a lease has passed since this owner's last heartbeat (a stalled
   * event loop; flushes renew it every second otherwise), renews it, or, when another connection
   * has meanwhile taken this owner for dead and rebuilt its hours, drops the sums it holds and
   * marks their hours for a rebuild. Without it, a record written into an hour this owner had
   * marked before the rebuild would get no mark, and its figures would be lost if the process
   * then died before its next flush.
   */
  keepAlive(): void;
  /** Whether the deltas have grown past what a flush should wait for. */
  isLarge(): boolean;
  /** Rebuilds the hours marked only by dead owners (see above); postpones the rest. */
  recover(): void;
  /** Marks hours for a rebuild from raw records. Call inside the transaction that changed them. */
  markForRebuild(hours: Iterable<number>): void;
  /** Every marked hour, whatever its owner: queries read those from raw records. */
  markedHours(): number[];
  /** The custom dimension names of every record (custom-name-index.ts); in a read transaction. */
  customNames(): string[];
  /** Forgets the deltas without writing them, as a crash would (for tests). */
  dropDeltas(): void;
  /** Flushes, and unregisters this owner when it holds no mark any more. */
  close(): void;
  /** Whether the rollups cover every record (the build on open has finished). */
  isComplete(): boolean;
  /**
   * Marks the rollups incomplete, so the next open rebuilds them: for a connection that writes
   * records without maintaining rollups. Call inside the writing transaction.
   */
  invalidate(): void;
  /**
   * Builds the rollups of a ledger that has records they do not cover, one UTC day per
   * IMMEDIATE transaction (deleting that day's rows, then aggregating its raw records; hours a
   * live owner marks get a rebuild mark, since its flush will add to them). Resumes where an
   * interrupted build stopped. Does nothing when complete.
   */
  build(onProgress?: RollupBuildProgress): void;
}

/**
 * Deltas past this many aggregates are flushed with the write that grew them. It bounds the
 * memory of the sums, ~1.5 kB per distinct tuple in the tree of Maps: at 20,000 a flood of
 * distinct users (test/gateway/cardinality-flood.test.ts) held 29 MB more at 100k users than
 * at 10k. A flush of 4,000 rows takes a few tens of milliseconds.
 */
const LARGE_DELTAS = 4_000;

interface StateRow {
  complete: number;
  built_through: number | null;
  build_end: number | null;
}

/** Maintains the rollup tables (rollup-schema.ts) of an open, migrated ledger database. */
export function createRollupStore(
  db: Database.Database,
  layout: InsertLayout,
  options: RollupStoreOptions,
): RollupStore {
  const { owner, leaseMs } = options;
  const upsertHour = db.prepare<SqlValue[]>(UPSERT_HOUR_SQL);
  const upsertDay = db.prepare<SqlValue[]>(UPSERT_DAY_SQL);
  const updateHour = db.prepare<SqlValue[]>(UPDATE_HOUR_SQL);
  const updateDay = db.prepare<SqlValue[]>(UPDATE_DAY_SQL);
  const upsertCoreHour = db.prepare<SqlValue[]>(UPSERT_CORE_HOUR_SQL);
  const updateCoreHour = db.prepare<SqlValue[]>(UPDATE_CORE_HOUR_SQL);
  const deleteCoreHours = db.prepare<{ from: number; to: number }>(
    'DELETE FROM usage_rollup_core_hour WHERE bucket >= @from AND bucket < @to',
  );
  const insertCoreHours = db.prepare<{ from: number; to: number }>(REBUILD_CORE_HOURS_SQL);
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
  const adjustDay = db.prepare<{ from: number; to: number; sign: number }>(ADJUST_DAY_SQL);
  const deleteEmptyDays = db.prepare<[number]>(
    'DELETE FROM usage_rollup_day WHERE bucket = ? AND requests = 0',
  );
  const firstTimeFrom = db
    .prepare<[number], number | null>('SELECT MIN(time) FROM usage_records WHERE time >= ?')
    .pluck();
  const lastTime = db.prepare<[], number | null>('SELECT MAX(time) FROM usage_records').pluck();
  const mark = db.prepare<[number, string]>(
    'INSERT OR IGNORE INTO usage_rollup_pending (hour, owner) VALUES (?, ?)',
  );
  const unmarkOwner = db.prepare<[string]>('DELETE FROM usage_rollup_pending WHERE owner = ?');
  const unmarkHour = db.prepare<[number]>('DELETE FROM usage_rollup_pending WHERE hour = ?');
  const register = db.prepare<[string, number]>(
    'INSERT OR REPLACE INTO usage_rollup_owners (owner, heartbeat) VALUES (?, ?)',
  );
  const beat = db.prepare<[number, string]>('UPDATE usage_rollup_owners SET heartbeat = ? WHERE owner = ?');
  const unregister = db.prepare<[string, string]>(
    'DELETE FROM usage_rollup_owners WHERE owner = ? AND NOT EXISTS (SELECT 1 FROM usage_rollup_pending WHERE owner = ?)',
  );
  // The owners of an hour's marks, all dead when it is rebuilt: removing their rows fences them
  // (a stalled one that wakes up finds its row gone at its next flush).
  const forgetOwners = db.prepare<[number]>(
    'DELETE FROM usage_rollup_owners WHERE owner IN (SELECT owner FROM usage_rollup_pending WHERE hour = ?)',
  );
  const LIVE = 'SELECT 1 FROM usage_rollup_owners o WHERE o.owner = p.owner AND o.heartbeat > @alive';
  const staleHours = db
    .prepare<{ alive: number }, number>(
      `SELECT DISTINCT hour FROM usage_rollup_pending p WHERE NOT EXISTS (${LIVE}) ORDER BY hour`,
    )
    .pluck();
  const liveHoursIn = db
    .prepare<{ alive: number; from: number; to: number }, number>(
      `SELECT DISTINCT hour FROM usage_rollup_pending p
       WHERE hour >= @from AND hour < @to AND EXISTS (${LIVE})`,
    )
    .pluck();
  const allMarked = db
    .prepare<[], number>('SELECT DISTINCT hour FROM usage_rollup_pending ORDER BY hour')
    .pluck();
  const forgetStaleOwnersIn = db.prepare<{ alive: number; from: number; to: number }>(
    `DELETE FROM usage_rollup_owners WHERE owner IN (SELECT p.owner FROM usage_rollup_pending p
       WHERE hour >= @from AND hour < @to AND NOT EXISTS (${LIVE}))`,
  );
  const deleteStaleIn = db.prepare<{ alive: number; from: number; to: number }>(
    `DELETE FROM usage_rollup_pending AS p WHERE hour >= @from AND hour < @to AND NOT EXISTS (${LIVE})`,
  );

  const deltas = new RollupDeltas(layout);
  const names = createCustomNameIndex(db, layout.custom);
  /** Hours this owner has marked since its last flush. */
  const marked = new Set<number>();
  /** When this owner last wrote its heartbeat (registered, flushed or kept alive). */
  let lastBeat = 0;
  const alive = (): number => Date.now() - leaseMs;
  const floorDay = (t: number): number => Math.floor(t / DAY_MS) * DAY_MS;
  const floorHour = (t: number): number => Math.floor(t / HOUR_MS) * HOUR_MS;

  function rebuildDay(day: number): void {
    deleteHours.run({ from: day, to: day + DAY_MS });
    insertHours.run({ from: day, to: day + DAY_MS });
    deleteCoreHours.run({ from: day, to: day + DAY_MS });
    insertCoreHours.run({ from: day, to: day + DAY_MS });
    deleteDays.run({ from: day, to: day + DAY_MS });
    insertDays.run({ from: day, to: day + DAY_MS });
    names.fillFromHours(day, day + DAY_MS);
  }

  /** Rebuilds one hour from raw records, keeping its day rows the sum of their hour rows. */
  function rebuildHour(hour: number): void {
    const range = { from: hour, to: hour + HOUR_MS };
    adjustDay.run({ ...range, sign: -1 });
    deleteHours.run(range);
    insertHours.run(range);
    deleteCoreHours.run(range);
    insertCoreHours.run(range);
    names.fillFromHours(range.from, range.to);
    adjustDay.run({ ...range, sign: 1 });
    deleteEmptyDays.run(floorDay(hour));
  }

  /**
   * After this owner was fenced (taken for dead, its hours rebuilt by another connection): the
   * hours it marked or holds sums of are marked for another rebuild (owner ''), since the sums
   * may count records the rebuild already counted.
   */
  function markHeldHoursForRebuild(): void {
    for (const hour of new Set([...marked, ...deltas.hours.buckets.keys()])) mark.run(hour, '');
  }

  const flushTx = db.transaction((): void => {
    if (beat.run(Date.now(), owner).changes === 0) {
      // Declared dead while it held marks (stalled past the lease): another connection may
      // have rebuilt these hours from raw records, records included here. Adding the deltas
      // could count them twice; have the hours rebuilt again instead.
      markHeldHoursForRebuild();
    } else {
      RollupDeltas.write(
        deltas.hours,
        (p) => updateHour.run(...p).changes,
        (p) => void upsertHour.run(...p),
      );
      RollupDeltas.write(
        deltas.coreHours(),
        (p) => updateCoreHour.run(...p).changes,
        (p) => void upsertCoreHour.run(...p),
      );
      RollupDeltas.write(
        deltas.days(),
        (p) => updateDay.run(...p).changes,
        (p) => void upsertDay.run(...p),
      );
    }
    // Names are true of committed records whichever branch ran: storing them is never wrong.
    names.flush();
    unmarkOwner.run(owner);
  });

  const recoverHour = db.transaction((hour: number): void => {
    const now = alive();
    if (liveHoursIn.all({ alive: now, from: hour, to: hour + HOUR_MS }).length > 0) return;
    rebuildHour(hour);
    forgetOwners.run(hour);
    unmarkHour.run(hour);
  });

  function flush(): boolean {
    if (deltas.size === 0 && marked.size === 0) return true;
    try {
      flushTx.immediate();
    } catch (err) {
      // SQLITE_BUSY and the like: the deltas and marks stay, the next tick retries.
      if (!db.open) throw err;
      return false;
    }
    deltas.clear();
    marked.clear();
    lastBeat = Date.now();
    return true;
  }

  // Fenced (taken for dead and its hours rebuilt by another connection) while holding sums:
  // they may count records the rebuild counted, so they are dropped and their hours marked for
  // another rebuild, as a fenced flush does. Else the heartbeat is renewed.
  const keepAliveTx = db.transaction((now: number): boolean => {
    if (beat.run(now, owner).changes > 0) return true;
    markHeldHoursForRebuild();
    unmarkOwner.run(owner);
    return false;
  });

  return {
    markRecords(records) {
      let fresh: Set<number> | undefined;
      for (const params of records) {
        const hour = floorHour(Number(params[layout.time]));
        if (marked.has(hour) || fresh?.has(hour) === true) continue;
        // The first mark since a flush (re)registers this owner: an owner without marks needs
        // no heartbeat, and a dead one's row may have been removed.
        if (fresh === undefined && marked.size === 0) {
          lastBeat = Date.now();
          register.run(owner, lastBeat);
        }
        mark.run(hour, owner);
        (fresh ??= new Set()).add(hour);
      }
      return fresh;
    },
    committed(records, fresh) {
      for (const params of records) deltas.add(params);
      names.note(records);
      if (fresh !== undefined) for (const hour of fresh) marked.add(hour);
    },
    flush,
    keepAlive() {
      const now = Date.now();
      if ((marked.size === 0 && deltas.size === 0) || now - lastBeat < leaseMs / 2) return;
      if (keepAliveTx.immediate(now)) lastBeat = now;
      else {
        deltas.clear();
        marked.clear();
      }
    },
    isLarge: () => deltas.size > LARGE_DELTAS,
    recover() {
      // Reads only, unless there is something to rebuild: a reading connection writes nothing.
      for (const hour of staleHours.all({ alive: alive() })) recoverHour.immediate(hour);
    },
    markForRebuild(hours) {
      for (const hour of hours) mark.run(hour, '');
    },
    markedHours: () => allMarked.all(),
    customNames: () => names.read(allMarked.all()),
    dropDeltas() {
      deltas.clear();
      marked.clear();
    },
    close() {
      if (!flush()) return;
      try {
        unregister.run(owner, owner);
      } catch {
        // Left registered: without marks, its row only goes stale and is removed.
      }
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
        // A live owner's next flush adds deltas of records that are now counted: have those
        // hours rebuilt again once it has flushed. The other marks of the day are settled.
        const range = { alive: alive(), from: day, to: day + DAY_MS };
        const live = liveHoursIn.all(range);
        forgetStaleOwnersIn.run(range);
        deleteStaleIn.run(range);
        for (const hour of live) mark.run(hour, '');
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
