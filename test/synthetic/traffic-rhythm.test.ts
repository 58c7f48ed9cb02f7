import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPrng, MAX_SEED } from '../../src/synthetic/prng.js';
import { createTrafficClock } from '../../src/synthetic/traffic-rhythm.js';

test('the clock hands out exactly the times asked for, ascending, inside the range', () => {
  for (const [since, until, count] of [
    [Date.UTC(2026, 0, 1, 7, 13), Date.UTC(2026, 0, 9, 3, 2), 5000],
    [Date.UTC(2026, 0, 1), Date.UTC(2026, 0, 1, 0, 30), 7],
    [Date.UTC(2026, 0, 1), Date.UTC(2026, 0, 1) + 1, 3],
  ] as const) {
    const clock = createTrafficClock({ since, until }, count, createPrng(3));
    const times = Array.from({ length: count }, () => clock.nextTime());
    assert.ok(times.every((t, i) => t >= since && t < until && (i === 0 || t >= (times[i - 1] ?? 0))));
  }
});

test('prng: same seed same stream, seeds apart, values in range', () => {
  const draw = (seed: number) => {
    const prng = createPrng(seed);
    return Array.from({ length: 5 }, () => prng.next());
  };
  assert.deepEqual(draw(42), draw(42));
  assert.notDeepEqual(draw(42), draw(43));
  assert.notDeepEqual(draw(0), draw(MAX_SEED));
  const prng = createPrng(9);
  const counts = [0, 0, 0];
  for (let i = 0; i < 30_000; i++) {
    const n = prng.int(1, 6);
    assert.ok(Number.isInteger(n) && n >= 1 && n <= 6);
    counts[prng.weighted([1, 0, 3])]! += 1;
    assert.ok(prng.logNormal(100, 1) > 0);
  }
  assert.equal(counts[1], 0, 'a zero weight is never drawn');
  assert.ok(Math.abs((counts[2] ?? 0) / 30_000 - 0.75) < 0.02);
});
