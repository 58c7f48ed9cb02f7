import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Ledger } from '../ledger/ledger.js';
import { claimInstance } from './instance-claim.js';
import { createJournalWriter } from './journal-writer.js';
import type { ShipProgress } from './outbox-shipper.js';
import { countPending, listSegments, REJECTED_FILE, segmentName } from './segment-files.js';
import { HOLD_MAX_MS, type FromWorker, type OutboxWorkerData, type ToWorker } from './worker-messages.js';

/** What `/metrics` and `/readyz` show of the outbox. */
export interface OutboxStatus {
  /** Records appended (or left by an earlier run) and not shipped yet. */
  pending: number;
  /** Age of the oldest pending record's write, seconds (0 when none). */
  oldestPendingSeconds: number;
  shipped: number;
  shipFailures: number;
  /** Lines set aside in `<instance>/rejected.ndjson`. */
  rejected: number;
  target: 'reachable' | 'unreachable';
  lastError?: string;
  /** This process's instance directory. */
  dir: string;
}

/** What a consistent read returns: `upTo` is undefined when the read ran without a hold. */
export type ConsistentRead<T> = { value: T; upTo: number } | { value: T; upTo: undefined };

/**
 * Reads that tell exactly which of this process's appends they saw (budget-tracker.ts keeps its
 * totals exact with them). Only the outbox ledger has them; check with `'readConsistent' in ledger`.
 */
export interface ConsistentReads {
  /**
   * Records this process appended so far, in order (each turn's records are counted together,
   * when its journal write returned). A record's count at the moment its append resolved is its
   * turn's end: the record is among the first `appendedCount()` records.
   */
  appendedCount(): number;
  /**
   * Runs `read` on the reader connection while the ledger holds exactly this process's first
   * `upTo` records (the worker ships up to there and pauses) and returns `upTo`, a turn's end.
   * When the hold cannot be had within `timeoutMs` (the ledger is down, the worker is gone) the
   * read runs without one and `upTo` is undefined. Consistent reads run one at a time.
   */
  readConsistent<T>(read: (reader: Ledger) => Promise<T>, timeoutMs: number): Promise<ConsistentRead<T>>;
}

/** A Ledger whose writes go through the outbox; `outbox` tells how shipping goes. */
export interface OutboxLedger extends Ledger, ConsistentReads {
  readonly outbox: {
    status(): OutboxStatus;
    /** Waits (at most timeoutMs) until everything written so far is shipped; true if it was. */
    catchUp(timeoutMs: number): Promise<boolean>;
  };
}

export interface OutboxLedgerOptions {
  /** The ledger URL the worker ships into (it opens its own connection). */
  url: string;
  /** The outbox root (outbox-location.ts). */
  root: string;
  /** A ledger on the same URL, opened by the caller on this thread: reads, claims, reprice. */
  reader: Ledger;
  log: Logger;
  cwd?: string;
  /** Segment size before rotation (default 64 MiB). */
  segmentBytes?: number;
  /** How long a read waits for the worker to ship this process's writes (default 1000 ms). */
  readWaitMs?: number;
  /** How long close waits for everything to be shipped (default 5000 ms). */
  closeWaitMs?: number;
  /** Shipper tuning (tests): records per batch, idle poll, first retry delay. */
  batchSize?: number;
  idleMs?: number;
  backoffMs?: number;
}

/**
 * Starts the worker: the compiled .js beside this file, or, when this file runs from sources
 * (tests, benchmarks under tsx), the .ts source through a bootstrap that registers tsx in the
 * worker first (Node 20 ignores `--import` in a worker's execArgv for its entry module).
 */
function startWorker(workerData: OutboxWorkerData): Worker {
  if (!fileURLToPath(import.meta.url).endsWith('.ts'))
    return new Worker(new URL('./outbox-worker.js', import.meta.url), { workerData });
  const entry = new URL('./outbox-worker.ts', import.meta.url).href;
  const bootstrap = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}

/**
 * The outbox write path (docs/outbox.md): `append` writes the record to this process's journal
 * (journal-writer.ts: one write per event-loop turn, durable against a process crash when it
 * resolves), a worker thread ships the journal into the ledger, and every read first asks the
 * worker to catch up with this process's writes (at most `readWaitMs`, then it reads anyway),
 * so a read sees its own writes and budgets see a call within about a second.
 */
export function createOutboxLedger(options: OutboxLedgerOptions): OutboxLedger {
  const { reader, log } = options;
  const readWaitMs = options.readWaitMs ?? 1000;
  const closeWaitMs = options.closeWaitMs ?? 5000;
  const claim = claimInstance(options.root);
  const dirs = [claim.dir, ...claim.adopted];
  const initialPending = dirs.reduce((sum, dir) => sum + countPending(dir), 0);
  // Records of earlier runs are dated by their segment's last write.
  const turns: { upTo: number; at: number }[] = [];
  if (initialPending > 0) turns.push({ upTo: initialPending, at: oldestSegmentTime(dirs) });
  if (claim.adopted.length > 0)
    log.warn(
      { adopted: claim.adopted, records: initialPending },
      'the outbox holds records of a gateway that is gone: this process ships them',
    );
  let written = initialPending;
  /** While a consistent read is under way: the ends of the turns written since it began. */
  let turnEnds: number[] | undefined;
  const writer = createJournalWriter(claim.dir, {
    ...(options.segmentBytes !== undefined ? { segmentBytes: options.segmentBytes } : {}),
    onWritten(records) {
      written += records;
      turns.push({ upTo: written, at: Date.now() });
      turnEnds?.push(writer.written);
    },
  });
  let progress: ShipProgress = {
    handled: 0,
    own: 0,
    shipped: 0,
    rejected: 0,
    failures: 0,
    reachable: true,
  };
  let catchUpWaiters: { upTo: number; resolve: (done: boolean) => void }[] = [];
  let drainId = 0;
  const drains = new Map<number, (complete: boolean) => void>();
  let holdId = 0;
  const holds = new Map<number, (handled: number | undefined) => void>();
  let workerGone = false;

  const data: OutboxWorkerData = {
    url: options.url,
    cwd: options.cwd ?? process.cwd(),
    // The writer's first segment: from it on, the live directory holds this process's lines.
    dirs: [
      { dir: claim.dir, live: true, from: writer.segment },
      ...claim.adopted.map((dir) => ({ dir, live: false })),
    ],
    ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
    ...(options.idleMs !== undefined ? { idleMs: options.idleMs } : {}),
    ...(options.backoffMs !== undefined ? { backoffMs: options.backoffMs } : {}),
  };
  const worker = startWorker(data);
  // Shipping must not keep a stopping process alive on its own; close() waits for it.
  worker.unref();
  const send = (message: ToWorker): void => {
    if (!workerGone) worker.postMessage(message);
  };

  const onProgress = (next: ShipProgress): void => {
    const previous = progress;
    progress = next;
    if (previous.reachable && !next.reachable)
      log.error(
        { err: next.lastError, outbox: claim.dir },
        'the ledger is unreachable: records are held in the outbox and shipped when it is back',
      );
    if (!previous.reachable && next.reachable)
      log.warn({ outbox: claim.dir }, 'the ledger is reachable again: the outbox ships its records');
    if (next.rejected > previous.rejected)
      log.error(
        { rejected: next.rejected - previous.rejected, setAside: join(claim.dir, REJECTED_FILE) },
        'outbox lines the ledger cannot take (not a usage record, refused by the ledger, or torn by a crash mid-write) were set aside, not shipped',
      );
    while (turns.length > 0 && (turns[0]?.upTo ?? 0) <= next.handled) turns.shift();
    if (catchUpWaiters.length > 0) {
      const still = catchUpWaiters.filter((w) => w.upTo > next.handled);
      catchUpWaiters.filter((w) => w.upTo <= next.handled).forEach((w) => w.resolve(true));
      catchUpWaiters = still;
    }
  };

  // A read's bounded wait is for shipping: it starts once the worker runs (loading it from
  // sources under tsx takes seconds; from dist/, milliseconds).
  let markStarted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  worker.on('message', (message: FromWorker) => {
    if (message.type === 'started') markStarted();
    else if (message.type === 'progress') onProgress(message.progress);
    else if (message.type === 'drained') {
      drains.get(message.id)?.(message.complete);
      drains.delete(message.id);
    } else if (message.type === 'held') holds.get(message.id)?.(message.handled);
  });
  worker.on('error', (err) => {
    log.error(
      { err, outbox: claim.dir },
      'the outbox worker failed: records stay in the outbox for the next start',
    );
    progress = { ...progress, reachable: false, lastError: err.message };
  });
  const exited = new Promise<void>((resolve) =>
    worker.once('exit', () => {
      workerGone = true;
      catchUpWaiters.splice(0).forEach((w) => w.resolve(false));
      drains.forEach((resolve) => resolve(false));
      drains.clear();
      [...holds.values()].forEach((resolve) => resolve(undefined));
      markStarted();
      resolve();
    }),
  );

  const catchUp = async (timeoutMs: number): Promise<boolean> => {
    // The turn under way is written by its own setImmediate, not flushed here: a journal write
    // in the middle of another turn's completions would give records observed after it a later
    // count than their turn's end (appendedCount, readConsistent).
    await lastAppend?.catch(() => undefined);
    const upTo = written;
    if (progress.handled >= upTo) return true;
    await waitFor(started, WORKER_START_WAIT_MS);
    if (workerGone) return false;
    return new Promise<boolean>((resolve) => {
      const waiter = { upTo, resolve: (done: boolean) => finish(done) };
      const timer = setTimeout(() => finish(false), timeoutMs);
      let settled = false;
      function finish(done: boolean): void {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        catchUpWaiters = catchUpWaiters.filter((w) => w !== waiter);
        resolve(done);
      }
      catchUpWaiters.push(waiter);
      send({ type: 'wake' });
    });
  };

  const drain = (final: boolean, timeoutMs: number): Promise<boolean> => {
    if (workerGone) return Promise.resolve(false);
    const id = ++drainId;
    return new Promise<boolean>((resolve) => {
      drains.set(id, resolve);
      send({ type: 'drain', id, final, timeoutMs });
    });
  };

  /**
   * Asks the worker to hold at `upTo` (see readConsistent); resolves with the lines of this
   * process it dealt with when it paused, or undefined when it did not answer before `deadline`.
   */
  const requestHold = (id: number, upTo: number, deadline: number): Promise<number | undefined> => {
    if (workerGone) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(undefined), Math.max(0, deadline - performance.now()));
      function finish(handled: number | undefined): void {
        clearTimeout(timer);
        holds.delete(id);
        resolve(handled);
      }
      holds.set(id, finish);
      send({ type: 'hold', id, upTo });
    });
  };

  /** Where `readConsistent` holds the worker: the count of this process's records the read sees. */
  const holdAt = async (id: number, deadline: number): Promise<number | undefined> => {
    let upTo = writer.written;
    turnEnds = [];
    await waitFor(started, Math.max(0, deadline - performance.now()));
    let handled = await requestHold(id, upTo, deadline);
    while (handled !== undefined && handled > upTo) {
      // The worker had shipped past upTo before the hold reached it: it pauses at `handled`,
      // maybe inside a turn. The hold moves on to that turn's end (it was written meanwhile).
      const at: number = handled;
      const next = turnEnds.find((end) => end >= at);
      if (next === undefined) return undefined;
      upTo = next;
      handled = await requestHold(id, upTo, deadline);
    }
    // Fewer: the hold ended before upTo was reached (the ledger is down, or the time limit).
    return handled === upTo ? upTo : undefined;
  };

  let consistentTail: Promise<unknown> = Promise.resolve();
  const readConsistent = <T>(
    read: (reader: Ledger) => Promise<T>,
    timeoutMs: number,
  ): Promise<ConsistentRead<T>> => {
    const run = async (): Promise<ConsistentRead<T>> => {
      const begun = performance.now();
      // Half the worker's own limit: the read has the other half to run under the hold.
      const deadline = begun + Math.min(timeoutMs, HOLD_MAX_MS / 2);
      const id = ++holdId;
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        send({ type: 'release', id });
      };
      try {
        const upTo = await holdAt(id, deadline);
        turnEnds = undefined;
        if (upTo === undefined) release();
        const value = await read(reader);
        // The worker ends a hold by itself HOLD_MAX_MS after it got it (later than `begun`): a read
        // that took that long may have seen records shipped after the hold ended.
        if (upTo === undefined || performance.now() - begun >= HOLD_MAX_MS) return { value, upTo: undefined };
        return { value, upTo };
      } finally {
        turnEnds = undefined;
        release();
      }
    };
    const result = consistentTail.then(run, run);
    consistentTail = result.catch(() => undefined);
    return result;
  };

  /** Reads see this process's own writes: the worker ships them first (bounded wait). */
  const afterCatchUp = async <T>(read: () => Promise<T>): Promise<T> => {
    await catchUp(readWaitMs);
    return read();
  };

  let lastAppend: Promise<void> | undefined;
  const appendLine = (record: Parameters<Ledger['append']>[0]): Promise<void> => {
    const done = writer.append(`${JSON.stringify(record)}\n`);
    lastAppend = done;
    return done;
  };

  let closing: Promise<void> | undefined;
  return {
    outbox: {
      status() {
        const oldest = turns.find((t) => t.upTo > progress.handled);
        return {
          pending: Math.max(0, written - progress.handled),
          oldestPendingSeconds: oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest.at) / 1000),
          shipped: progress.shipped,
          shipFailures: progress.failures,
          rejected: progress.rejected,
          target: progress.reachable ? 'reachable' : 'unreachable',
          ...(progress.lastError !== undefined ? { lastError: progress.lastError } : {}),
          dir: claim.dir,
        };
      },
      catchUp,
    },
    appendedCount: () => writer.written,
    readConsistent,
    append: appendLine,
    appendBatch: async (records) => {
      await Promise.all(records.map(appendLine));
    },
    // A journal write fails for the disk's reasons, never for one record's.
    rejectsRecord: () => false,
    query: (query) => afterCatchUp(() => reader.query(query)),
    dimensionValues: (dimension, query, limit) =>
      afterCatchUp(() => reader.dimensionValues(dimension, query, limit)),
    count: () => afterCatchUp(() => reader.count()),
    customDimensionNames: () => afterCatchUp(() => reader.customDimensionNames()),
    subscriptionTotals: (range, subscriptions) =>
      afterCatchUp(() => reader.subscriptionTotals(range, subscriptions)),
    reprice: (range, price) => afterCatchUp(() => reader.reprice(range, price)),
    claimBudgetAlert: (alert, now, leaseMs) => reader.claimBudgetAlert(alert, now, leaseMs),
    settleBudgetAlert: (alert, claimId, delivered, now) =>
      reader.settleBudgetAlert(alert, claimId, delivered, now),
    claimReportDelivery: (delivery, now, leaseMs, force) =>
      reader.claimReportDelivery(delivery, now, leaseMs, force),
    settleReportDelivery: (delivery, claimId, delivered, now) =>
      reader.settleReportDelivery(delivery, claimId, delivered, now),
    close() {
      closing ??= (async () => {
        writer.close();
        worker.ref();
        const complete = await drain(true, closeWaitMs);
        if (!complete) {
          const pending = Math.max(0, written - progress.handled);
          log.warn(
            { outbox: claim.dir, pending, lastError: progress.lastError },
            'stopping with records the ledger has not taken yet: they stay in the outbox and are shipped at the next start',
          );
        }
        send({ type: 'stop' });
        await exited;
        try {
          await reader.close();
        } finally {
          claim.release();
        }
      })();
      return closing;
    },
  };
}

/** How long a read waits for the worker to start at most, milliseconds. */
const WORKER_START_WAIT_MS = 15_000;

/** Waits for `promise`, at most `ms`. */
async function waitFor(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** The last write of the oldest segment left in `dirs` (epoch ms), now when there is none. */
function oldestSegmentTime(dirs: readonly string[]): number {
  let oldest = Date.now();
  for (const dir of dirs) {
    const [first] = listSegments(dir);
    if (first === undefined) continue;
    const path = join(dir, segmentName(first));
    if (existsSync(path)) oldest = Math.min(oldest, statSync(path).mtimeMs);
  }
  return oldest;
}
