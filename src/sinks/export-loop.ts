import type { Logger } from 'pino';
import { createBoundedQueue } from './bounded-queue.js';
import type { SinkCounters, SinkName } from './sink-counters.js';

/** What a send did with a batch it did not refuse as a whole (a thrown send keeps it all). */
export interface SendResult<T> {
  /** Items the endpoint asked to be sent again (throttled, busy): put back at the head. */
  retry: T[];
  /** Points the endpoint refused as invalid: they would never be accepted, so they are not kept. */
  rejectedPoints: number;
}

export interface ExportLoopOptions<T> {
  sink: SinkName;
  /** How often the interval's points are cut and sent, milliseconds. */
  intervalMs: number;
  /** The most one send may take; past it the send counts as failed and its items are kept. */
  timeoutMs: number;
  /** Points held at most (queued, not counting the batch in flight); past it the oldest go. */
  maxQueuedPoints: number;
  /** Items per send. */
  maxBatchItems: number;
  /** The points aggregated since the last cut (empty when nothing happened). */
  cut(): Promise<T[]>;
  weigh: (item: T) => number;
  /** Sends a batch; throws (or rejects) when nothing was delivered, which keeps the batch. */
  send(items: readonly T[], signal: AbortSignal): Promise<SendResult<T>>;
  counters: SinkCounters;
  log: Logger;
}

/** A sink's timer, queue and sends. */
export interface ExportLoop {
  /** Cuts and sends now (tests; the timer does the same every interval). */
  tick(): Promise<void>;
  /** Points queued now (not counting a batch in flight). */
  readonly queuedPoints: number;
  /** The most points the queue held at any time (tests check it never passes the bound). */
  readonly peakQueuedPoints: number;
  /** Stops the timer, then one last cut and one send attempt, bounded by timeoutMs (after a send in flight, itself bounded by timeoutMs). */
  close(): Promise<void>;
}

/**
 * Runs a sink off the call path: every `intervalMs` the points aggregated since the last cut join
 * a bounded queue, and the queue is sent oldest first, one batch at a time, each send bounded by
 * `timeoutMs`. A failed send keeps its batch for the next interval; only the queue's bound drops
 * points (oldest first, counted in tokenmeter_metric_export_dropped_total). The timer is unref'd:
 * an export never keeps a stopping process alive, and nothing here runs inside a call.
 */
export function startExportLoop<T>(options: ExportLoopOptions<T>): ExportLoop {
  const { sink, counters, log, timeoutMs } = options;
  let peak = 0;
  let warnedDrop = false;
  const queue = createBoundedQueue<T>({
    maxWeight: options.maxQueuedPoints,
    weigh: options.weigh,
    onDrop: (points) => {
      counters.dropped(sink, points);
      if (!warnedDrop) {
        warnedDrop = true;
        log.warn(
          { sink, maxQueuedPoints: options.maxQueuedPoints },
          'metric sink queue full: the oldest points are dropped (tokenmeter_metric_export_dropped_total); usage records are unaffected',
        );
      }
    },
  });
  counters.exposeQueued(sink, () => queue.weight);
  let draining: Promise<void> | undefined;
  let failing = false;
  let closed = false;

  const sendBatch = async (deadline: number): Promise<boolean> => {
    const batch = queue.take(options.maxBatchItems);
    if (batch.length === 0) return false;
    const budget = Math.max(1, Math.min(timeoutMs, deadline - Date.now()));
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort.abort();
        reject(new Error(`no answer within ${budget} ms`));
      }, budget);
    });
    try {
      const result = await Promise.race([options.send(batch, abort.signal), timeout]);
      if (result.rejectedPoints > 0) {
        counters.exported(sink, 'rejected');
        log.error(
          { sink, rejectedPoints: result.rejectedPoints },
          'the metric endpoint refused points as invalid; they are not sent again',
        );
      } else counters.exported(sink, 'success');
      if (failing) log.info({ sink }, 'metric export works again');
      failing = false;
      queue.putBack(result.retry);
      return result.retry.length === 0;
    } catch (err) {
      counters.exported(sink, 'failure');
      queue.putBack(batch);
      if (!failing)
        log.warn(
          { sink, err, queuedPoints: queue.weight },
          'metric export failed; the points are kept (bounded) and sent again next interval',
        );
      failing = true;
      return false;
    } finally {
      clearTimeout(timer);
    }
  };

  /** Sends batches until the queue is empty, a send fails, or the deadline passes. */
  const drain = (deadline: number): Promise<void> => {
    if (draining !== undefined) return draining;
    if (queue.length === 0) return Promise.resolve();
    const run = async (): Promise<void> => {
      while (queue.length > 0 && Date.now() < deadline && (await sendBatch(deadline)));
    };
    // Assigned before the first await can clear it (run() always awaits a send first).
    draining = run().finally(() => {
      draining = undefined;
    });
    return draining;
  };

  const enqueue = async (): Promise<void> => {
    try {
      for (const item of await options.cut()) queue.push(item);
      peak = Math.max(peak, queue.weight);
    } catch (err) {
      log.error({ sink, err }, 'metric sink could not collect its points');
    }
  };

  const tick = async (): Promise<void> => {
    await enqueue();
    // A send still in flight (a slow endpoint) is not joined by a second one: the new points
    // wait in the queue for the next interval.
    if (draining === undefined) await drain(Date.now() + options.intervalMs);
  };

  const timer = setInterval(() => void tick(), options.intervalMs);
  timer.unref();

  return {
    tick,
    get queuedPoints() {
      return queue.weight;
    },
    get peakQueuedPoints() {
      return peak;
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      // A send in flight ends within timeoutMs; then the last attempt has timeoutMs of its own.
      await draining;
      const deadline = Date.now() + timeoutMs;
      await enqueue();
      await drain(deadline);
      const left = queue.take(Number.MAX_SAFE_INTEGER).reduce((sum, item) => sum + options.weigh(item), 0);
      if (left > 0) {
        counters.dropped(sink, left);
        log.warn({ sink, points: left }, 'stopping with metric points the endpoint did not take: dropped');
      }
    },
  };
}
