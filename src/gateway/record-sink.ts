import type { Logger } from 'pino';
import { TokenmeterError } from '../errors.js';
import type { FallbackJournal } from '../ledger/fallback-journal.js';
import type { Ledger } from '../ledger/ledger.js';
import type { UsageRecord } from '../ledger/record.js';

/** Something that receives every finished record once it is durable (metrics, later shippers). */
export interface RecordObserver {
  observe(record: UsageRecord): void;
}

/** `ledger.whenUnavailable`: what new calls get while the ledger cannot write. */
export type WhenLedgerUnavailable = 'serve' | 'refuse';

/** Counters of the recording path, exposed as internal metrics. */
export interface RecordSinkStats {
  /** Ledger appends that failed (each retry that fails counts again). */
  appendFailures: number;
  /** Records held only in memory: neither the ledger nor the fallback journal could take them. */
  readonly pending: number;
  /** Records in the fallback journal waiting to be imported into the ledger. */
  readonly journalPending: number;
  /** Appends to the fallback journal that failed. */
  journalWriteFailures: number;
  /** Journal imports that failed (the journal is kept and imported again later). */
  importFailures: number;
  /** Journal lines that were not a record (torn, damaged): set aside in `<journal>.rejected`. */
  journalLinesRejected: number;
  /** Records nothing could hold (memory bound reached, or stopping): written to stderr instead. */
  dropped: number;
  /** Metered calls refused with TM_LEDGER_UNAVAILABLE before forwarding. */
  refusedCalls: number;
  /** Observer calls that threw. */
  observerFailures: number;
  /** False from a failed ledger write until the ledger has taken every record held back. */
  readonly ledgerWritable: boolean;
}

/** Why the gateway is or is not ready to meter calls (`GET /readyz`). */
export interface RecordingHealth {
  ready: boolean;
  ledger: 'writable' | 'failing';
  /** Records held only in memory (lost if the process is killed). */
  pendingInMemory: number;
  /** Records in the fallback journal waiting for import. */
  journalRecords: number;
  /** The fallback journal's path, when the ledger has one. */
  journal?: string;
  /** One sentence per reason the gateway is not ready; empty when ready. */
  reasons: string[];
}

/**
 * Commits a record durably, then tells the observers. The recording path never throws and never
 * fails the call whose record it is (STYLE.md); no record is ever dropped silently.
 *
 * - The ledger first. When an append fails (full disk, locked file) the ledger is marked failing
 *   and the record, and every later one until the ledger writes again, is appended to the
 *   fallback journal (synchronously: durable against a process crash before commit resolves).
 *   Later records skip the ledger meanwhile: a locked SQLite file would otherwise hold the event
 *   loop for its busy timeout on every call.
 * - A timer with backoff (retryDelayMs doubled up to 30 s) retries: records held in memory, then
 *   the journal's import. When both succeed the ledger is writable again. The ledger ignores a
 *   record it already holds (same id and time), so no retry or import counts a call twice.
 * - When the journal cannot be written either, records are held in memory (up to maxPending),
 *   new metered calls are refused (refusal()), and every attempt logs the count. Past maxPending,
 *   and at close for what is still held, each record is written to stderr as one JSON line
 *   `{"unrecordedUsageRecord":{…}}`, so an operator can append it to the journal by hand.
 *
 * Observers see each record once, when it first becomes durable (ledger or journal); a journal
 * import does not show it to them again.
 */
export interface RecordSink {
  commit(record: UsageRecord): Promise<void>;
  readonly stats: Readonly<RecordSinkStats>;
  /** Retries now what is held (memory, journal); used at start-up to import the journal. */
  recover(): Promise<void>;
  /**
   * The error a new metered call gets instead of being forwarded, or undefined to forward it.
   * `refuse`: while the ledger is failing. `serve`: while neither the ledger nor the journal
   * can write (records are held in memory).
   */
  refusal(): TokenmeterError | undefined;
  health(): RecordingHealth;
  /** One last attempt at what is held; the rest goes to the journal, or else to stderr. */
  close(): Promise<void>;
}

export interface RecordSinkOptions {
  /** Where records go while the ledger cannot write; without one they wait in memory. */
  journal?: FallbackJournal;
  /** Default `serve`. */
  whenUnavailable?: WhenLedgerUnavailable;
  /** Records held in memory at most (default 100 000); beyond, they are written to stderr. */
  maxPending?: number;
  /** First retry delay, milliseconds (default 1000), doubled up to 30 s. */
  retryDelayMs?: number;
  /** Receives each line for a record nothing else could hold (default: process.stderr). */
  writeUnrecorded?: (line: string) => void;
}

const MAX_RETRY_DELAY_MS = 30_000;

export function createRecordSink(
  ledger: Ledger,
  observers: readonly RecordObserver[],
  log: Logger,
  options: RecordSinkOptions = {},
): RecordSink {
  const { journal } = options;
  const policy = options.whenUnavailable ?? 'serve';
  const maxPending = options.maxPending ?? 100_000;
  const firstDelay = options.retryDelayMs ?? 1000;
  const writeUnrecorded = options.writeUnrecorded ?? ((line: string) => void process.stderr.write(line));
  const held: UsageRecord[] = [];
  let ledgerDown = false;
  let delay = firstDelay;
  let timer: NodeJS.Timeout | undefined;
  let recovering: Promise<void> | undefined;
  let closing = false;

  const stats: RecordSinkStats = {
    appendFailures: 0,
    get pending() {
      return held.length;
    },
    get journalPending() {
      return journal?.pendingRecords ?? 0;
    },
    journalWriteFailures: 0,
    importFailures: 0,
    journalLinesRejected: 0,
    dropped: 0,
    refusedCalls: 0,
    observerFailures: 0,
    get ledgerWritable() {
      return !ledgerDown;
    },
  };

  const notify = (record: UsageRecord): void => {
    for (const observer of observers) {
      try {
        observer.observe(record);
      } catch (err) {
        stats.observerFailures++;
        log.warn({ err, recordId: record.id }, 'record observer failed');
      }
    }
  };

  const spill = (records: readonly UsageRecord[]): void => {
    for (const record of records) {
      stats.dropped++;
      writeUnrecorded(`${JSON.stringify({ unrecordedUsageRecord: record })}\n`);
    }
  };

  /**
   * Makes records durable without the ledger: the journal takes them together with any held in
   * memory; if it cannot, they are held in memory (or spilled past the bound).
   */
  const park = (records: readonly UsageRecord[]): void => {
    let journalError: unknown = new Error('the ledger has no fallback journal');
    if (journal !== undefined) {
      const batch = held.length > 0 ? [...held, ...records] : records;
      try {
        journal.append(batch);
        held.length = 0;
        batch.forEach(notify);
        return;
      } catch (err) {
        stats.journalWriteFailures++;
        journalError = err;
      }
    }
    const room = Math.max(0, maxPending - held.length);
    held.push(...records.slice(0, room));
    const over = records.slice(room);
    if (over.length > 0) {
      log.error(
        { held: held.length, unrecorded: over.length },
        'usage records held in memory reached the bound: the excess is written to stderr as {"unrecordedUsageRecord":…} lines',
      );
      spill(over);
    }
    log.error(
      { err: journalError, journal: journal?.path, heldInMemory: held.length },
      'neither the ledger nor the fallback journal can write: usage records are held in memory and new metered calls are refused',
    );
    schedule();
  };

  const markDown = (err: unknown, record: UsageRecord): void => {
    stats.appendFailures++;
    if (ledger.rejectsRecord(err)) {
      // The ledger writes, but not this record: the journal keeps it and its import sets it
      // aside for an operator (fallback-journal.ts); the ledger stays in use for the others.
      log.error({ err, recordId: record.id, journal: journal?.path }, 'the ledger refused a usage record');
      schedule();
      return;
    }
    if (!ledgerDown) {
      ledgerDown = true;
      log.error(
        { err, journal: journal?.path, whenUnavailable: policy },
        policy === 'refuse'
          ? 'ledger append failed: new metered calls are refused until it writes again; records go to the fallback journal'
          : 'ledger append failed: records go to the fallback journal until the ledger writes again',
      );
    }
    schedule();
  };

  /** One retry of everything held back; true when the ledger took it all (or set it aside). */
  const retryOnce = async (): Promise<boolean> => {
    if (held.length > 0) {
      const records = held.splice(0);
      const results = await Promise.allSettled(records.map((r) => ledger.append(r)));
      const failed: UsageRecord[] = [];
      results.forEach((result, i) => {
        const record = records[i];
        if (record === undefined) return;
        if (result.status === 'fulfilled') notify(record);
        else failed.push(record);
      });
      if (failed.length > 0) {
        stats.appendFailures += failed.length;
        park(failed);
        return false;
      }
    }
    if (journal !== undefined) {
      try {
        const done = await journal.importInto(ledger);
        if (done.rejected > 0) {
          stats.journalLinesRejected += done.rejected;
          log.error(
            { journal: journal.path, rejected: done.rejected, setAside: `${journal.path}.rejected` },
            'fallback journal lines that are not usage records (torn by a crash mid-write, or damaged) were set aside, not imported',
          );
        }
        if (done.imported > 0)
          log.info(
            { journal: journal.path, imported: done.imported },
            'fallback journal imported into the ledger',
          );
      } catch (err) {
        stats.importFailures++;
        log.error(
          { err, journal: journal.path, records: journal.pendingRecords },
          'fallback journal import failed; it is kept and imported again later',
        );
        return false;
      }
    }
    return true;
  };

  const nothingHeldBack = (): boolean => held.length === 0 && (journal?.pendingRecords ?? 0) === 0;

  const runRecovery = (): Promise<void> => {
    if (recovering !== undefined) return recovering;
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    recovering = retryOnce()
      .then((writes) => {
        recovering = undefined;
        // Checked now, not when retryOnce ended: records may have gone to the journal since.
        if (writes && nothingHeldBack()) {
          if (ledgerDown) log.warn('the ledger writes again: metered calls are recorded in it as usual');
          ledgerDown = false;
          delay = firstDelay;
          return;
        }
        if (writes) {
          // The ledger writes, but records arrived meanwhile: import them too, at once (when
          // stopping, close() makes the further attempts).
          if (!closing) void runRecovery();
          return;
        }
        ledgerDown = true;
        delay = Math.min(delay * 2, MAX_RETRY_DELAY_MS);
        schedule();
      })
      .catch((err: unknown) => {
        // retryOnce catches what the ledger and the journal throw; this is a bug, kept visible.
        recovering = undefined;
        log.error({ err }, 'ledger recovery failed unexpectedly');
        schedule();
      });
    return recovering;
  };

  function schedule(): void {
    if (closing || timer !== undefined || recovering !== undefined) return;
    timer = setTimeout(() => void runRecovery(), delay);
    // Retries must not keep a stopping process alive on their own.
    timer.unref();
  }

  return {
    stats,
    async commit(record) {
      if (!ledgerDown) {
        try {
          await ledger.append(record);
          notify(record);
          return;
        } catch (err) {
          markDown(err, record);
        }
      }
      park([record]);
    },
    async recover() {
      await recovering;
      await runRecovery();
    },
    refusal() {
      const refuse = held.length > 0 || (policy === 'refuse' && ledgerDown);
      if (!refuse) return undefined;
      stats.refusedCalls++;
      return new TokenmeterError(
        'TM_LEDGER_UNAVAILABLE',
        'The gateway cannot record usage right now, so the call was not forwarded; retry later.',
      );
    },
    health() {
      const reasons: string[] = [];
      if (ledgerDown) reasons.push('the ledger cannot write');
      if (held.length > 0)
        reasons.push(
          `${held.length} usage records are held in memory only: the fallback journal cannot write either`,
        );
      const journalRecords = journal?.pendingRecords ?? 0;
      if (journalRecords > 0)
        reasons.push(`${journalRecords} usage records in the fallback journal wait for import`);
      return {
        ready: reasons.length === 0,
        ledger: ledgerDown ? 'failing' : 'writable',
        pendingInMemory: held.length,
        journalRecords,
        ...(journal !== undefined ? { journal: journal.path } : {}),
        reasons,
      };
    },
    async close() {
      closing = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      await recovering;
      for (let attempt = 0; attempt < 3 && !nothingHeldBack(); attempt++) {
        await runRecovery();
        if (ledgerDown) break;
      }
      if (held.length > 0) {
        const records = held.splice(0);
        log.fatal(
          { unrecorded: records.length, journal: journal?.path },
          'stopping with usage records neither the ledger nor the fallback journal could take: each is written to stderr as one {"unrecordedUsageRecord":…} line; append their values to the journal to import them',
        );
        spill(records);
      }
      const inJournal = journal?.pendingRecords ?? 0;
      if (inJournal > 0)
        log.warn(
          { records: inJournal, journal: journal?.path },
          'stopping with usage records in the fallback journal: they are imported into the ledger at the next start',
        );
      journal?.close();
    },
  };
}
