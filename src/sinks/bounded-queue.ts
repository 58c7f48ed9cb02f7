/**
 * A FIFO of export items bounded by their total weight (points). Pushing past the bound drops the
 * oldest items first and reports their weight, so a sink whose endpoint is down keeps the newest
 * points and memory stays bounded whatever the outage's length.
 */
export interface BoundedQueue<T> {
  /** Appends an item; evicts the oldest items while the total weight exceeds the bound. */
  push(item: T): void;
  /** Puts items taken for a send back at the head (they are older than what is queued). */
  putBack(items: readonly T[]): void;
  /** Removes and returns up to `maxItems` items from the head. */
  take(maxItems: number): T[];
  /** Total weight held (points). */
  readonly weight: number;
  readonly length: number;
}

export interface BoundedQueueOptions<T> {
  /** The most weight held at once. */
  maxWeight: number;
  weigh: (item: T) => number;
  /** Told the weight of each item dropped to keep the bound. */
  onDrop: (weight: number) => void;
}

export function createBoundedQueue<T>(options: BoundedQueueOptions<T>): BoundedQueue<T> {
  const { maxWeight, weigh, onDrop } = options;
  // An array with a moving head: shift() on a long array is O(n), and a recovering endpoint
  // drains thousands of items.
  let items: T[] = [];
  let head = 0;
  let weight = 0;

  const compact = (): void => {
    if (head > 1024 && head * 2 > items.length) {
      items = items.slice(head);
      head = 0;
    }
  };

  const evict = (): void => {
    while (weight > maxWeight && head < items.length) {
      const oldest = items[head] as T;
      items[head] = undefined as T;
      head += 1;
      const w = weigh(oldest);
      weight -= w;
      onDrop(w);
    }
    compact();
  };

  return {
    get weight() {
      return weight;
    },
    get length() {
      return items.length - head;
    },
    push(item) {
      items.push(item);
      weight += weigh(item);
      evict();
    },
    putBack(back) {
      if (back.length === 0) return;
      items = [...back, ...items.slice(head)];
      head = 0;
      for (const item of back) weight += weigh(item);
      evict();
    },
    take(maxItems) {
      const end = Math.min(items.length, head + maxItems);
      const out = items.slice(head, end);
      for (let i = head; i < end; i++) items[i] = undefined as T;
      head = end;
      for (const item of out) weight -= weigh(item);
      compact();
      return out;
    },
  };
}
