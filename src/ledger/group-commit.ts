/**
 * Group commit: appends that arrive in the same turn of the event loop are written in one
 * transaction, scheduled with setImmediate (after the I/O callbacks of this turn). Each caller's
 * promise still resolves only once its own record is committed, so "committed before the
 * response ends" holds, while 64 concurrent calls cost one WAL commit instead of 64.
 */
export interface GroupCommitter<T> {
  add(item: T): Promise<void>;
  /** Commits whatever is pending now (used before closing the store). */
  flush(): void;
}

interface Pending<T> {
  item: T;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * @param commitBatch writes all items in one transaction (throws to roll the whole batch back)
 * @param commitOne writes one item on its own: after a failed batch each item is retried alone,
 *   so one bad record cannot take the others down with it.
 * @param isItemError says whether a batch failure may be caused by one item (a constraint). When
 *   it says no (the store is full, locked, unreadable), every item of the batch is rejected with
 *   that error at once: retrying each alone would fail the same way, and with a lock each retry
 *   would wait out the busy timeout on the event loop again. Default: every error may be.
 */
export function createGroupCommitter<T>(
  commitBatch: (items: T[]) => void,
  commitOne: (item: T) => void,
  isItemError: (err: unknown) => boolean = () => true,
): GroupCommitter<T> {
  let pending: Pending<T>[] = [];
  let scheduled = false;

  function flush(): void {
    scheduled = false;
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    try {
      commitBatch(batch.map((p) => p.item));
      for (const p of batch) p.resolve();
      return;
    } catch (err) {
      if (!isItemError(err)) {
        const error = err instanceof Error ? err : new Error(String(err));
        for (const p of batch) p.reject(error);
        return;
      }
      // fall through: retry one by one
    }
    for (const p of batch) {
      try {
        commitOne(p.item);
        p.resolve();
      } catch (err) {
        p.reject(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }

  return {
    add(item) {
      return new Promise<void>((resolve, reject) => {
        pending.push({ item, resolve, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
    flush,
  };
}
