import type { Logger } from 'pino';
import type { Ledger } from '../ledger/ledger.js';
import type { UsageRecord } from '../ledger/record.js';

/** Something that receives every finished record after it is durable (metrics, later shippers). */
export interface RecordObserver {
  observe(record: UsageRecord): void;
}

/**
 * Commits a record to the ledger, then tells the observers. The recording path never throws
 * and never fails a client call: errors are logged and counted (STYLE.md).
 */
export interface RecordSink {
  commit(record: UsageRecord): Promise<void>;
  readonly failures: number;
}

export function createRecordSink(
  ledger: Ledger,
  observers: readonly RecordObserver[],
  log: Logger,
): RecordSink {
  let failures = 0;
  return {
    get failures() {
      return failures;
    },
    async commit(record) {
      try {
        await ledger.append(record);
      } catch (err) {
        failures++;
        log.error({ err, recordId: record.id }, 'ledger append failed');
      }
      for (const observer of observers) {
        try {
          observer.observe(record);
        } catch (err) {
          failures++;
          log.warn({ err, recordId: record.id }, 'record observer failed');
        }
      }
    },
  };
}
