import assert from 'node:assert/strict';
import { test } from 'node:test';
import { invalidUsageFields, hasValidUsage, MAX_TOKEN_COUNT, readCount } from '../../src/usage.js';

test('readCount: absent or null is not reported; sane counts up to the bound are counts', () => {
  assert.equal(readCount(undefined), undefined);
  assert.equal(readCount(null), undefined);
  for (const value of [0, 1, 12, MAX_TOKEN_COUNT]) assert.equal(readCount(value), value);
});

test('readCount: anything else present is INVALID_COUNT (NaN), never dropped or coerced', () => {
  const absurd: unknown[] = [
    1e20,
    -1,
    1.5,
    '12',
    JSON.parse('1e400') as number,
    -Infinity,
    2 ** 53,
    MAX_TOKEN_COUNT + 1,
    true,
    {},
    [3],
  ];
  for (const value of absurd) assert.ok(Number.isNaN(readCount(value)), String(value));
});

test('invalidUsageFields: invalid markers, and a total below prompt + completion', () => {
  assert.deepEqual(invalidUsageFields({ promptTokens: 3, completionTokens: 4, totalTokens: 7 }), []);
  assert.deepEqual(invalidUsageFields({ promptTokens: Number.NaN, completionTokens: 4 }), ['promptTokens']);
  // A sum with an invalid part stays invalid: -5 + 10 cannot pass for 5.
  assert.deepEqual(invalidUsageFields({ promptTokens: Number.NaN + 10 }), ['promptTokens']);
  assert.deepEqual(invalidUsageFields({ promptTokens: 10, completionTokens: 5, totalTokens: 14 }), [
    'totalTokens',
  ]);
  assert.deepEqual(invalidUsageFields({ promptTokens: 10, totalTokens: 9 }), ['totalTokens']);
  // Above the sum is kept (reasoning counted outside completion_tokens by some servers).
  assert.deepEqual(invalidUsageFields({ promptTokens: 10, completionTokens: 5, totalTokens: 40 }), []);
  // Sums of bounded parts may exceed the per-field bound (Anthropic's three input parts).
  assert.deepEqual(invalidUsageFields({ promptTokens: 3 * MAX_TOKEN_COUNT }), []);
  assert.equal(hasValidUsage({}), false);
  assert.equal(hasValidUsage({ cachedTokens: 0 }), true);
});
