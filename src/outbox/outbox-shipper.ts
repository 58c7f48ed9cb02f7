import { appendFileSync, closeSync, fstatSync, openSync, readSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { parseJournalRecord } from '../ledger/journal-record.js';
import type { Ledger } from '../ledger/ledger.js';
import type { UsageRecord } from '../ledger/record.js';
import {
  listSegments,
  readOffset,
  REJECTED_FILE,
  segmentName,
  writeOffset,
  type ShipOffset,
} from './segment-files.js';

/**
 * Ships the journal of outbox instance directories into the ledger (runs in the outbox worker
 * thread; a plain module so that tests drive it directly).
 *
 * From the persisted offset it reads complete lines, ships them in batches with
 * `target.appendBatch` (idempotent by record id: a batch shipped again after a crash between
 * the ship and the offset's update is skipped by the ledger), then persists the offset (write a
 * temporary file, rename) and deletes segments it has finished that no writer appends to.
 * A batch the target refuses because of one record (`rejectsRecord`) is bisected down to that
 * record, which is set aside in `rejected.ndjson` with the reason; so is a line that is not a
 * usage record, and the torn tail of a finished segment (a crash mid-write). Nothing is dropped
 * unseen. Other failures (target down, locked, full) are retried with backoff.
 *
 * A hold (`hold(upTo)`) makes a consistent read possible: the shipper ships this process's lines
 * until exactly `upTo` of them are dealt with (its batches cut to fit), then ships nothing until
 * `release()`, or `holdMaxMs` after the hold began (so a caller that never releases cannot stop
 * shipping for good).
 */
export interface Shipper {
  /** Ships at once instead of after the idle poll (a read wants its writes visible). */
  wake(): void;
  /**
   * Ships everything there is, the live segment included (`final`: its writer is closed, so a
   * torn tail is set aside and the segment deleted). Resolves true once nothing is left, false
   * after `timeoutMs` (the target is down: the records stay for the next start).
   */
  drain(final: boolean, timeoutMs: number): Promise<boolean>;
  /** Stops the loop (after the batch in flight) and closes the target. */
  stop(): Promise<void>;
  /**
   * Ships this process's lines (`progress.own`) up to `upTo`, then pauses. Resolves with
   * `progress.own` once paused: `upTo` exactly, more when the shipper was already past `upTo`
   * (it pauses at once then), fewer when the hold ended first (release, holdMaxMs, stop). A hold
   * in place is moved to the new `upTo` (its time limit still runs from its start).
   */
  hold(upTo: number): Promise<number>;
  /** Ends the hold: shipping resumes. */
  release(): void;
  readonly progress: ShipProgress;
}

/** Counters since the shipper started. */
export interface ShipProgress {
  /** Complete lines dealt with: shipped or set aside. */
  handled: number;
  /**
   * Of those, the lines this process's writer appended (segments of the live directory from
   * `ShipperDir.from` on), in journal order: the count a hold's `upTo` refers to.
   */
  own: number;
  /** Records the target accepted (those it already held among them). */
  shipped: number;
  /** Lines set aside in rejected.ndjson (torn tails included). */
  rejected: number;
  /** Failed attempts (each retry counts). */
  failures: number;
  /** False from a failed attempt until one succeeds. */
  reachable: boolean;
  lastError?: string;
}

/** A directory to ship; `live` when this process's writer appends to its last segment. */
export interface ShipperDir {
  dir: string;
  live: boolean;
  /** The first segment this process's writer appends to (live directory): its lines count in `own`. */
  from?: number;
}

export interface ShipperOptions {
  dirs: readonly ShipperDir[];
  /** Opens the target ledger (again after a failed open). */
  openTarget: () => Ledger | Promise<Ledger>;
  /** Records per appendBatch (default 2000). */
  batchSize?: number;
  /** Poll period when there is nothing to ship (default 50 ms). */
  idleMs?: number;
  /** First retry delay (default 100 ms), doubled up to maxBackoffMs (default 30 s). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** A hold ends by itself this long after it began, milliseconds (default 5000). */
  holdMaxMs?: number;
  /** Told after every change of the counters. */
  onProgress?: (progress: ShipProgress) => void;
}

interface Line {
  text: string;
  /** Offset just past the line's newline. */
  end: number;
}

interface RejectedLine {
  reason: string;
  line: string;
  segment: string;
}

/** A hold in place: ship this process's lines up to `upTo`, then pause. */
interface Hold {
  upTo: number;
  /** Told `progress.own` once paused, or when the hold ends. */
  waiters: ((own: number) => void)[];
  timer: NodeJS.Timeout;
}

const NEWLINE = 0x0a;
const MAX_READ = 8 * 1024 * 1024;

export function createShipper(options: ShipperOptions): Shipper {
  const batchSize = options.batchSize ?? 2000;
  const idleMs = options.idleMs ?? 50;
  const firstBackoff = options.backoffMs ?? 100;
  const maxBackoff = options.maxBackoffMs ?? 30_000;
  const holdMaxMs = options.holdMaxMs ?? 5000;
  const dirs = options.dirs.map((d) => ({ ...d, at: readOffset(d.dir) }));
  const progress: ShipProgress = {
    handled: 0,
    own: 0,
    shipped: 0,
    rejected: 0,
    failures: 0,
    reachable: true,
  };
  let hold: Hold | undefined;
  let target: Ledger | undefined;
  let stopped = false;
  let finalDrain = false;
  let backoff = firstBackoff;
  let wakeUp: (() => void) | undefined;
  /** Resolved by the loop after each pass that found nothing left to ship. */
  let idleWaiters: (() => void)[] = [];

  const report = (): void => options.onProgress?.({ ...progress });

  /** Whether a hold has reached its `upTo`: nothing is shipped until it ends. */
  const paused = (): boolean => hold !== undefined && progress.own >= hold.upTo;

  /** Tells the hold's waiters where shipping stands (once paused, or when the hold ends). */
  const settleHold = (h: Hold): void => {
    const waiters = h.waiters;
    h.waiters = [];
    waiters.forEach((w) => w(progress.own));
  };

  const endHold = (): void => {
    const h = hold;
    if (h === undefined) return;
    hold = undefined;
    clearTimeout(h.timer);
    settleHold(h);
    wakeUp?.();
  };

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        wakeUp = undefined;
        resolve();
      }
      wakeUp = done;
    });

  const setAside = (dir: string, lines: readonly RejectedLine[]): void => {
    if (lines.length === 0) return;
    appendFileSync(join(dir, REJECTED_FILE), lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
    progress.rejected += lines.length;
  };

  /** Ships records, bisecting a batch the target refuses because of one record. */
  const ship = async (
    items: readonly { record: UsageRecord; line: string }[],
    rejected: RejectedLine[],
    segment: string,
  ): Promise<number> => {
    if (items.length === 0) return 0;
    const ledger = target;
    if (ledger === undefined) throw new Error('the outbox target is not open');
    try {
      await ledger.appendBatch(items.map((i) => i.record));
      return items.length;
    } catch (err) {
      if (!ledger.rejectsRecord(err)) throw err;
      const [only] = items;
      if (items.length === 1 && only !== undefined) {
        rejected.push({ reason: err instanceof Error ? err.message : String(err), line: only.line, segment });
        return 0;
      }
      const half = Math.ceil(items.length / 2);
      return (
        (await ship(items.slice(0, half), rejected, segment)) +
        (await ship(items.slice(half), rejected, segment))
      );
    }
  };

  /** Complete lines of a segment from `from` (at most `max`), and the bytes of a last unended line. */
  const readLines = (path: string, from: number, max: number): { lines: Line[]; tail: string } => {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (from >= size) return { lines: [], tail: '' };
      const buf = Buffer.allocUnsafe(Math.min(MAX_READ, size - from));
      const n = readSync(fd, buf, 0, buf.length, from);
      const lines: Line[] = [];
      let start = 0;
      for (let i = 0; i < n && lines.length < max; i++) {
        if (buf[i] !== NEWLINE) continue;
        lines.push({ text: buf.toString('utf8', start, i), end: from + i + 1 });
        start = i + 1;
      }
      const tail = lines.length === 0 && from + n === size ? buf.toString('utf8', 0, n) : '';
      return { lines, tail };
    } finally {
      closeSync(fd);
    }
  };

  /** One step on one directory; true when it did something (call again at once). */
  const step = async (d: ShipperDir & { at: ShipOffset }): Promise<boolean> => {
    const segments = listSegments(d.dir).filter((s) => s >= d.at.segment);
    const current = segments[0];
    if (current === undefined) return false;
    const name = segmentName(current);
    const path = join(d.dir, name);
    if (current !== d.at.segment) d.at = { segment: current, offset: 0 };
    const last = current === segments.at(-1);
    const finished = !last || !d.live || finalDrain;
    const own = d.live && d.from !== undefined && current >= d.from;
    // Under a hold, this process's lines are shipped up to its upTo and not one further.
    const max = own && hold !== undefined ? Math.min(batchSize, hold.upTo - progress.own) : batchSize;
    if (max <= 0) return false;
    const { lines, tail } = readLines(path, d.at.offset, max);
    if (lines.length > 0) {
      const rejected: RejectedLine[] = [];
      const items: { record: UsageRecord; line: string }[] = [];
      for (const line of lines) {
        let record: UsageRecord | undefined;
        try {
          record = parseJournalRecord(JSON.parse(line.text));
        } catch {
          record = undefined;
        }
        if (record === undefined)
          rejected.push({ reason: 'not a usage record', line: line.text, segment: name });
        else items.push({ record, line: line.text });
      }
      const shipped = await ship(items, rejected, name);
      setAside(d.dir, rejected);
      const end = lines.at(-1)?.end ?? d.at.offset;
      d.at = { segment: current, offset: end };
      writeOffset(d.dir, d.at);
      progress.handled += lines.length;
      if (own) progress.own += lines.length;
      progress.shipped += shipped;
      report();
      // A full batch: more may be waiting, go on at once. A partial one: shipping has caught up
      // with the writer; the loop waits idleMs (or a wake) and ships what gathered meanwhile in
      // one batch. Going on at once would ship a few records per transaction in a tight loop
      // and take a core from the gateway under load (measured: 459 calls/s instead of 2,000+).
      return lines.length >= max;
    }
    if (!finished) return false;
    if (tail !== '') {
      setAside(d.dir, [
        { reason: 'torn last line: the process stopped mid-write', line: tail, segment: name },
      ]);
      report();
    }
    // Finished and fully shipped: the offset moves to the next segment first, then the file goes.
    d.at = { segment: current + 1, offset: 0 };
    writeOffset(d.dir, d.at);
    unlinkSync(path);
    return true;
  };

  const loop = async (): Promise<void> => {
    while (!stopped) {
      if (paused()) {
        // Held: nothing ships (not even other directories) until the hold ends.
        if (hold !== undefined) settleHold(hold);
        await sleep(idleMs);
        continue;
      }
      let busy = false;
      try {
        target ??= await options.openTarget();
        for (const d of dirs) {
          if (stopped || paused()) break;
          while (!stopped && !paused() && (await step(d))) busy = true;
        }
        if (!progress.reachable) {
          progress.reachable = true;
          report();
        }
        backoff = firstBackoff;
      } catch (err) {
        progress.failures += 1;
        progress.reachable = false;
        progress.lastError = err instanceof Error ? err.message : String(err);
        report();
        await sleep(backoff);
        backoff = Math.min(backoff * 2, maxBackoff);
        continue;
      }
      // A pass cut short by a hold is not idle: a drain waits for the hold to end.
      if (paused()) continue;
      if (!busy) {
        const waiters = idleWaiters;
        idleWaiters = [];
        waiters.forEach((w) => w());
        if (!stopped) await sleep(idleMs);
      }
    }
  };
  const running = loop();

  return {
    progress,
    wake() {
      wakeUp?.();
    },
    async drain(final, timeoutMs) {
      if (final) finalDrain = true;
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<boolean>((resolve) => idleWaiters.push(() => resolve(true)));
      const timeout = new Promise<boolean>(
        (resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)),
      );
      // A pass that started before the drain may end idle without having seen the last writes:
      // wait for one that started after.
      wakeUp?.();
      const first = await Promise.race([idle, timeout]);
      if (!first) return false;
      const again = new Promise<boolean>((resolve) => idleWaiters.push(() => resolve(true)));
      wakeUp?.();
      const done = await Promise.race([again, timeout]);
      clearTimeout(timer);
      return done;
    },
    hold(upTo) {
      if (hold === undefined) {
        const timer = setTimeout(endHold, holdMaxMs);
        timer.unref();
        hold = { upTo, waiters: [], timer };
      } else hold.upTo = upTo;
      const h = hold;
      const reached = new Promise<number>((resolve) => h.waiters.push(resolve));
      wakeUp?.();
      return reached;
    },
    release: endHold,
    async stop() {
      stopped = true;
      endHold();
      wakeUp?.();
      await running;
      await target?.close();
      target = undefined;
    },
  };
}
