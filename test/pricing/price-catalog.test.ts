import assert from 'node:assert/strict';
import { test } from 'node:test';
import { calcPrice } from '@pydantic/genai-prices';
import fc from 'fast-check';
import {
  createPriceCatalog,
  DEFAULT_PRICE_MEMO_ENTRIES,
  MAX_PRICED_MODEL_CHARS,
} from '../../src/pricing/price-catalog.js';

test('the memoised flat-rate path prices exactly as the catalog does', () => {
  const catalog = createPriceCatalog();
  const models: [string, string, string | undefined][] = [
    ['openai', 'gpt-4o-mini', 'openai'],
    ['openai', 'gpt-4.1', 'openai'],
    ['azure-openai', 'gpt-4o', 'azure'],
    ['simulator', 'gpt-4o', undefined],
    ['anthropic', 'claude-sonnet-4-5', 'anthropic'],
    ['gemini', 'gemini-2.5-flash', 'google'],
  ];
  fc.assert(
    fc.property(
      fc.constantFrom(...models),
      fc.integer({ min: 0, max: 2_000_000 }),
      fc.integer({ min: 0, max: 100_000 }),
      fc.nat({ max: 1000 }),
      ([, model, providerId], prompt, completion, cachedPerMille) => {
        const cached = Math.floor((prompt * cachedPerMille) / 1000);
        const usage = { input_tokens: prompt, output_tokens: completion, cache_read_tokens: cached };
        const expected = calcPrice(usage, model, providerId !== undefined ? { providerId } : {})?.total_price;
        const got = catalog.costOf(providerId, model, {
          promptTokens: prompt,
          completionTokens: completion,
          cachedTokens: cached,
        });
        assert.ok(expected !== undefined && got !== undefined);
        assert.ok(
          Math.abs(got - expected) <= 1e-9 * Math.max(1, expected),
          `${model}: ${got} vs ${expected}`,
        );
      },
    ),
    { numRuns: 300 },
  );
});

test('unknown models and calls without reported tokens have no cost', () => {
  const catalog = createPriceCatalog();
  assert.equal(
    catalog.costOf('openai', 'no-such-model-xyz', { promptTokens: 10, completionTokens: 1 }),
    undefined,
  );
  assert.equal(
    catalog.costOf('openai', 'no-such-model-xyz', { promptTokens: 10 }),
    undefined,
    'memoised miss',
  );
  assert.equal(catalog.costOf('openai', 'gpt-4o-mini', {}), undefined);
  assert.equal(catalog.costOf('openai', undefined, { promptTokens: 10 }), undefined);
});

test('a usage the catalog cannot price (cache above input) is priced as unknown, never throws', () => {
  const catalog = createPriceCatalog();
  catalog.costOf('openai', 'gpt-4o-mini', { promptTokens: 10 });
  assert.equal(catalog.costOf('openai', 'gpt-4o-mini', { promptTokens: 10, cachedTokens: 50 }), undefined);
});

test('a model name longer than the bound is never looked up: no price, nothing memoised', () => {
  const catalog = createPriceCatalog();
  const usage = { promptTokens: 100, completionTokens: 10 };
  // The catalog matches Claude models by prefix, so it would price this name, whatever follows.
  const prefix = 'claude-3-5-sonnet-20241022-';
  const within = prefix + 'x'.repeat(MAX_PRICED_MODEL_CHARS - prefix.length);
  assert.equal(typeof catalog.costOf('anthropic', within, usage), 'number');
  assert.equal(catalog.memoSize, 1);
  for (const length of [MAX_PRICED_MODEL_CHARS + 1, 10_000, 4 * 1024 * 1024]) {
    const model = prefix + 'x'.repeat(length - prefix.length);
    assert.equal(catalog.costOf('anthropic', model, usage), undefined, `${length} characters`);
  }
  assert.equal(catalog.memoSize, 1);
});

test('the memo keeps the most recently used matches only', () => {
  assert.equal(DEFAULT_PRICE_MEMO_ENTRIES, 1000);
  const catalog = createPriceCatalog({ maxMemoEntries: 3 });
  const usage = { promptTokens: 1000, completionTokens: 10 };
  const priced = catalog.costOf('openai', 'gpt-4o-mini', usage);
  assert.ok(priced !== undefined);
  for (let i = 0; i < 50; i++) {
    catalog.costOf('openai', `hostile-${i}`, usage);
    // A model in use stays memoised while unknown names come and go.
    if (i % 2 === 0) assert.equal(catalog.costOf('openai', 'gpt-4o-mini', usage), priced);
    assert.ok(catalog.memoSize <= 3);
  }
  assert.equal(catalog.memoSize, 3);
  assert.equal(catalog.costOf('openai', 'gpt-4o-mini', usage), priced);
  assert.throws(() => createPriceCatalog({ maxMemoEntries: 0 }), RangeError);
});
