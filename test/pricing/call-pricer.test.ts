import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { findProvider } from '@pydantic/genai-prices';
import { configSchema } from '../../src/config/schema.js';
import { createCallPricer, type PricedCall } from '../../src/pricing/call-pricer.js';

/**
 * Prices against the real catalog. Expected values are computed here from the catalog's
 * per-million prices of the model (read from the catalog data, not through the pricer), so a
 * wrong rule (cached tokens billed twice, reasoning billed on top of output) fails.
 */

/** The model's flat per-million prices as the catalog lists them (fails if not flat). */
function catalogRates(providerId: string, modelId: string): Record<string, number> {
  const model = findProvider({ providerId })?.models.find((m) => m.id === modelId);
  assert.ok(model !== undefined, `${providerId}/${modelId} is in the catalog`);
  assert.ok(!Array.isArray(model.prices), `${modelId} has one price`);
  const rates: Record<string, number> = {};
  for (const [key, value] of Object.entries(model.prices)) if (typeof value === 'number') rates[key] = value;
  return rates;
}

function rate(rates: Record<string, number>, key: string): number {
  const value = rates[key];
  assert.ok(value !== undefined, `catalog rate ${key}`);
  return value;
}

function assertCost(actual: number | undefined, expected: number, label: string): void {
  assert.ok(actual !== undefined, `${label}: priced`);
  assert.ok(Math.abs(actual - expected) <= 1e-12, `${label}: ${actual} vs ${expected}`);
}

const T = Date.parse('2026-03-15T12:00:00Z');

function pricer(extra: Record<string, unknown> = {}) {
  const config = configSchema.parse({
    backends: [
      { id: 'oai', type: 'openai', url: 'https://api.openai.com/v1' },
      { id: 'vllm', type: 'openai', url: 'http://10.0.0.5:8000/v1' },
      { id: 'sim', type: 'simulator' },
      { id: 'ant', type: 'anthropic', url: 'https://api.anthropic.com' },
      { id: 'gem', type: 'gemini', url: 'https://generativelanguage.googleapis.com' },
      {
        id: 'az',
        type: 'azure-openai',
        url: 'https://x.openai.azure.com',
        deployments: { 'my-gpt4o-deployment': 'gpt-4o', 'my-house': 'house-model' },
      },
    ],
    apis: [{ id: 'a', path: '/a', type: 'openai', backend: 'oai' }],
    products: [{ id: 'p', apis: ['a'] }],
    subscriptions: [
      { id: 'team-a', key: 'team-a-secret', product: 'p' },
      { id: 'team-b', key: 'team-b-secret', product: 'p' },
    ],
    ...extra,
  });
  return createCallPricer(config);
}

const call = (
  backend: string,
  model: string,
  usage: PricedCall['usage'],
  more: Partial<PricedCall> = {},
) => ({
  backend,
  model,
  usage,
  time: T,
  subscription: 'team-a',
  ...more,
});

describe('catalog prices', () => {
  const prices = pricer();

  test('OpenAI gpt-4o: cached input at its rate, out of the prompt; reasoning inside output', () => {
    const r = catalogRates('openai', 'gpt-4o');
    const usage = {
      promptTokens: 10_000,
      cachedTokens: 4_000,
      completionTokens: 2_000,
      reasoningTokens: 1_500,
    };
    const expected =
      (6_000 * rate(r, 'input_mtok') + 4_000 * rate(r, 'cache_read_mtok') + 2_000 * rate(r, 'output_mtok')) /
      1e6;
    assertCost(prices.costOf(call('oai', 'gpt-4o', usage)), expected, 'gpt-4o');
  });

  test('OpenAI o4-mini reasoning model, answered under a dated name', () => {
    const r = catalogRates('openai', 'o4-mini');
    const usage = {
      promptTokens: 3_000,
      cachedTokens: 1_000,
      completionTokens: 5_000,
      reasoningTokens: 4_500,
    };
    const expected =
      (2_000 * rate(r, 'input_mtok') + 1_000 * rate(r, 'cache_read_mtok') + 5_000 * rate(r, 'output_mtok')) /
      1e6;
    assertCost(
      prices.costOf(call('oai', 'o4-mini', usage, { responseModel: 'o4-mini-2025-04-16' })),
      expected,
      'o4-mini',
    );
  });

  test('Anthropic claude-haiku-4-5: cache reads and cache writes each at their rate', () => {
    const r = catalogRates('anthropic', 'claude-haiku-4-5');
    // promptTokens includes both cache counts (DESIGN.md, token accounting).
    const usage = {
      promptTokens: 9_000,
      cachedTokens: 5_000,
      cacheWriteTokens: 3_000,
      completionTokens: 700,
    };
    const expected =
      (1_000 * rate(r, 'input_mtok') +
        5_000 * rate(r, 'cache_read_mtok') +
        3_000 * rate(r, 'cache_write_mtok') +
        700 * rate(r, 'output_mtok')) /
      1e6;
    assertCost(prices.costOf(call('ant', 'claude-haiku-4-5', usage)), expected, 'claude-haiku-4-5');
  });

  test('Gemini gemini-2.5-flash: cached content and thoughts', () => {
    const r = catalogRates('google', 'gemini-2.5-flash');
    const usage = {
      promptTokens: 20_000,
      cachedTokens: 15_000,
      completionTokens: 3_000,
      reasoningTokens: 2_000,
    };
    const expected =
      (5_000 * rate(r, 'input_mtok') + 15_000 * rate(r, 'cache_read_mtok') + 3_000 * rate(r, 'output_mtok')) /
      1e6;
    assertCost(prices.costOf(call('gem', 'gemini-2.5-flash', usage)), expected, 'gemini-2.5-flash');
  });

  test('embeddings on a simulator and on an OpenAI-compatible server are looked up by name', () => {
    const r = catalogRates('openai', 'text-embedding-3-small');
    const usage = { promptTokens: 12_345 };
    const expected = (12_345 * rate(r, 'input_mtok')) / 1e6;
    assertCost(prices.costOf(call('sim', 'text-embedding-3-small', usage)), expected, 'simulator');
    assertCost(prices.costOf(call('vllm', 'text-embedding-3-small', usage)), expected, 'openai-compatible');
    // Models of other providers too: an OpenAI-compatible server may serve anything.
    const haiku = catalogRates('anthropic', 'claude-haiku-4-5');
    assertCost(
      prices.costOf(call('vllm', 'claude-haiku-4-5', { promptTokens: 1_000, completionTokens: 10 })),
      (1_000 * rate(haiku, 'input_mtok') + 10 * rate(haiku, 'output_mtok')) / 1e6,
      'claude on an openai-compatible server',
    );
  });

  test('an Azure deployment is priced as the model its deployments entry names', () => {
    const r = catalogRates('openai', 'gpt-4o');
    const usage = { promptTokens: 1_000, completionTokens: 100 };
    const expected = (1_000 * rate(r, 'input_mtok') + 100 * rate(r, 'output_mtok')) / 1e6;
    assertCost(prices.costOf(call('az', 'my-gpt4o-deployment', usage)), expected, 'deployment');
    assert.equal(prices.costOf(call('az', 'unmapped-deployment', usage)), undefined);
  });

  test('an unknown model, or no reported tokens, is unpriced: undefined, never 0', () => {
    assert.equal(
      prices.costOf(call('sim', 'house-model', { promptTokens: 10, completionTokens: 5 })),
      undefined,
    );
    assert.equal(prices.costOf(call('oai', 'gpt-4o', {})), undefined);
  });
});

describe('overrides and multipliers', () => {
  const prices = pricer({
    pricing: {
      overrides: [
        { model: 'house-model', input: 1.0, output: 2.0, cachedInput: 0.5, cacheWrite: 1.25 },
        { model: 'house-model', input: 0.8, output: 1.6, from: '2026-03-01' },
        { model: 'house-model', input: 0.6, output: 1.2, from: '2026-04-01T00:00:00Z' },
        { model: 'gpt-4o', input: 2.0, output: 8.0, from: '2026-02-01' },
      ],
      subscriptions: { 'team-b': { multiplier: 0.9 } },
    },
  });
  const usage = {
    promptTokens: 1_000_000,
    cachedTokens: 200_000,
    cacheWriteTokens: 100_000,
    completionTokens: 500_000,
  };

  test('the price in force at the call time applies; cached and written input at their rates', () => {
    const at = (iso: string) => prices.costOf(call('sim', 'house-model', usage, { time: Date.parse(iso) }));
    // Before March: the undated entry, with its own cache rates.
    assertCost(at('2026-02-28T23:59:59.999Z'), 0.7 * 1 + 0.2 * 0.5 + 0.1 * 1.25 + 0.5 * 2, 'undated');
    // From March 1 (midnight UTC): no cache rates given, so cache tokens at the input rate.
    assertCost(at('2026-03-01T00:00:00.000Z'), 1 * 0.8 + 0.5 * 1.6, 'from 2026-03-01');
    assertCost(at('2026-04-02T00:00:00Z'), 1 * 0.6 + 0.5 * 1.2, 'from 2026-04-01');
  });

  test('an override replaces the catalog only from its date on', () => {
    const small = { promptTokens: 1_000, completionTokens: 100 };
    const r = catalogRates('openai', 'gpt-4o');
    const catalog = (1_000 * rate(r, 'input_mtok') + 100 * rate(r, 'output_mtok')) / 1e6;
    const jan = Date.parse('2026-01-15T00:00:00Z');
    assertCost(prices.costOf(call('oai', 'gpt-4o', small, { time: jan })), catalog, 'catalog before');
    assertCost(prices.costOf(call('oai', 'gpt-4o', small)), (1_000 * 2 + 100 * 8) / 1e6, 'override after');
  });

  test('the override matches the answering model first, else the asked-for (or deployed) one', () => {
    const small = { promptTokens: 1_000_000 };
    assertCost(
      prices.costOf(call('sim', 'whatever', small, { responseModel: 'house-model' })),
      0.8,
      'answered',
    );
    assertCost(prices.costOf(call('az', 'my-house', small)), 0.8, 'deployment');
  });

  test('the subscription multiplier applies to the cost', () => {
    const small = { promptTokens: 1_000_000, completionTokens: 1_000_000 };
    assertCost(prices.costOf(call('sim', 'house-model', small)), 2.4, 'team-a: no multiplier');
    assertCost(
      prices.costOf(call('sim', 'house-model', small, { subscription: 'team-b' })),
      2.4 * 0.9,
      'team-b',
    );
  });

  test("another currency than the catalog's prices only by overrides", () => {
    const eur = pricer({
      pricing: { currency: 'EUR', overrides: [{ model: 'house-model', input: 1, output: 1 }] },
    });
    assert.equal(eur.costOf(call('oai', 'gpt-4o', { promptTokens: 1_000 })), undefined);
    assertCost(eur.costOf(call('sim', 'house-model', { promptTokens: 1_000_000 })), 1, 'override in EUR');
  });
});
