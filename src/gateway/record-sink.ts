import type { Logger } from 'pino';
import type { Ledger } from '../ledger/ledger.js';
import type { UsageRecord } from '../ledger/record.js';

/** Something that receives every finished record after it is committed (metrics, later shippers). */
export interface RecordObserver {
  observe(record: UsageRecord): void;
}

/** Counters of the recording path, exposed as internal metrics. */
export interface RecordSinkStats {
  /** Ledger appends that failed (each retry that fails counts again). */
  appendFailures: number;
  /** Records waiting to be retried. */
  readonly pending: number;
  /** Records given up on because the retry queue was full. */
  dropped: number;
  /** Observer calls that threw. */
  observerFailures: number;
}

/**
 * Commits a record to the ledger, then tells the observers. The recording path never throws
 * and never fails a client call (STYLE.md): a failed append (disk full, locked file) is logged,
 * counted and kept in a bounded queue that is retried with backoff until the ledger takes it;
 * a retry appends the very same record (same id and time), which the ledger ignores if it is
 * already stored, so a retry never counts a call twice.
 */
export interface RecordSink {
  commit(record: UsageRecord): Promise<void>;
  readonly stats: Readonly<RecordSinkStats>;
  /** Retries what is pending once more and stops the retry timer. */
  close(): Promise<void>;
}

export interface RecordSinkOptions {
  /** Records kept for retry at most (default 100 000). */
  maxPending?: number;
  /** First retry delay, milliseconds (default 1000), doubled up to 30 s. */
  retryDelayMs?: number;
}

export function createRecordSink(
  ledger: Ledger,
  observers: readonly RecordObserver[],
  log: Logger,
  options: RecordSinkOptions = {},
): RecordSink {
  const maxPending = options.maxPending ?? 100_000;
  const firstDelay = options.retryDelayMs ?? 1000;
  const pending: UsageRecord[] = [];
  const stats: RecordSinkStats = {
    appendFailures: 0,
    get pending() {
      return pending.length;
    },
    dropped: 0,
    observerFailures: 0,
  };
  let delay = firstDelay;
  let timer: NodeJS.Timeout | undefined;

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

  const retry = async (): Promise<void> => {
    timer = undefined;
    while (pending.length > 0) {
      const record = pending[0];
      if (record === undefined) break;
      try {
        await ledger.append(record);
      } catch (err) {
        stats.appendFailures++;
        log.error({ err, pending: pending.length }, 'ledger append retry failed');
        delay = Math.min(delay * 2, 30_000);
        schedule();
        return;
      }
      pending.shift();
      notify(record);
    }
    delay = firstDelay;
    log.info('ledger retries drained');
  };

  const schedule = (): void => {
    if (timer !== undefined) return;
    timer = setTimeout(() => void retry(), delay);
    // Retries must not keep a stopping process alive on their own.
    timer.unref();
  };

  return {
    stats,
    async commit(record) {
      try {
        await ledger.append(record);
      } catch (err) {
        stats.appendFailures++;
        if (pending.length >= maxPending) {
          stats.dropped++;
          log.error(
            { err, recordId: record.id },
            'ledger append failed and the retry queue is full: record dropped',
          );
          return;
        }
        pending.push(record);
        log.error({ err, recordId: record.id }, 'ledger append failed; will retry');
        schedule();
        return;
      }
      notify(record);
    },
    async close() {
      if (timer !== undefined) clearTimeout(timer);
      if (pending.length > 0) await retry();
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
