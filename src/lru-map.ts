/** A string-keyed map bounded to its most recently used entries. */
export interface LruMap<V> {
  /** The value, which becomes the most recently used; undefined when absent. */
  get(key: string): V | undefined;
  /** Stores the value as the most recently used; past `max` entries the least recent goes. */
  set(key: string, value: V): void;
  delete(key: string): void;
  readonly size: number;
}

/**
 * A Map that keeps its `max` most recently used entries: a Map iterates in insertion order, so
 * re-inserting on use keeps the least recently used first, and each operation is O(1).
 * `max` 0 keeps nothing.
 */
export function createLruMap<V>(max: number): LruMap<V> {
  const entries = new Map<string, V>();
  return {
    get size() {
      return entries.size;
    },
    get(key) {
      const value = entries.get(key);
      if (value === undefined) return undefined;
      entries.delete(key);
      entries.set(key, value);
      return value;
    },
    set(key, value) {
      if (max <= 0) return;
      entries.delete(key);
      entries.set(key, value);
      if (entries.size > max) {
        const oldest = entries.keys().next();
        if (oldest.done !== true) entries.delete(oldest.value);
      }
    },
    delete(key) {
      entries.delete(key);
    },
  };
}
