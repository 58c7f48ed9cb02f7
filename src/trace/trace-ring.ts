/**
 * The last `capacity` items by id, oldest evicted first: a Map keeps insertion order, so adding
 * past capacity deletes its first key. Memory is bounded by `capacity` items, whatever the
 * traffic; adding and finding are O(1).
 */
export interface TraceRing<T> {
  add(id: string, item: T): void;
  /** The item, or undefined when it was never added or has been evicted. */
  get(id: string): T | undefined;
  readonly size: number;
}

export function createTraceRing<T>(capacity: number): TraceRing<T> {
  if (!Number.isInteger(capacity) || capacity < 1)
    throw new RangeError('capacity must be a positive integer');
  const items = new Map<string, T>();
  return {
    add(id, item) {
      items.delete(id);
      items.set(id, item);
      if (items.size > capacity) {
        const oldest = items.keys().next();
        if (oldest.done !== true) items.delete(oldest.value);
      }
    },
    get(id) {
      return items.get(id);
    },
    get size() {
      return items.size;
    },
  };
}
