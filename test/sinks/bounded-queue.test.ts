// The sinks' queue: bounded by weight, oldest dropped first, items put back at the head stay
// oldest; an item heavier than the bound alone is dropped at once rather than held.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBoundedQueue } from '../../src/sinks/bounded-queue.js';

function queue(maxWeight: number) {
  const dropped: number[] = [];
  const q = createBoundedQueue<{ id: string; w: number }>({
    maxWeight,
    weigh: (item) => item.w,
    onDrop: (w) => dropped.push(w),
  });
  return { q, dropped };
}

test('past the bound the oldest items go first, and their weight is reported', () => {
  const { q, dropped } = queue(5);
  q.push({ id: 'a', w: 2 });
  q.push({ id: 'b', w: 2 });
  q.push({ id: 'c', w: 2 });
  assert.deepEqual(dropped, [2]);
  assert.equal(q.weight, 4);
  assert.deepEqual(
    q.take(10).map((i) => i.id),
    ['b', 'c'],
  );
  assert.equal(q.weight, 0);
  assert.equal(q.length, 0);
});

test('items put back after a failed send are the oldest: they are dropped first', () => {
  const { q, dropped } = queue(6);
  q.push({ id: 'a', w: 2 });
  q.push({ id: 'b', w: 2 });
  const batch = q.take(1);
  q.push({ id: 'c', w: 2 });
  q.putBack(batch);
  assert.deepEqual(dropped, []);
  q.push({ id: 'd', w: 2 });
  assert.deepEqual(dropped, [2], 'the put-back item, the oldest, went');
  assert.deepEqual(
    q.take(10).map((i) => i.id),
    ['b', 'c', 'd'],
  );
});

test('an item heavier than the bound is dropped at once; a zero bound keeps nothing', () => {
  const { q, dropped } = queue(3);
  q.push({ id: 'a', w: 1 });
  q.push({ id: 'huge', w: 10 });
  assert.deepEqual(dropped, [1, 10]);
  assert.equal(q.weight, 0);
  const zero = queue(0);
  zero.q.push({ id: 'x', w: 1 });
  assert.equal(zero.q.length, 0);
  assert.deepEqual(zero.dropped, [1]);
  assert.deepEqual(zero.q.take(5), []);
});

test('a long queue drains in order across the compaction of its head', () => {
  const { q, dropped } = queue(10_000);
  for (let i = 0; i < 5000; i++) q.push({ id: String(i), w: 1 });
  const seen: string[] = [];
  while (q.length > 0) seen.push(...q.take(7).map((i) => i.id));
  assert.deepEqual(
    seen,
    Array.from({ length: 5000 }, (_, i) => String(i)),
  );
  assert.deepEqual(dropped, []);
});
