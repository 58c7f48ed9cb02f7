import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { findProvider } from '@pydantic/genai-prices';
import { configSchema } from '../../src/config/schema.js';
import { createCallPricer } from '../../src/pricing/call-pricer.js';
import { catalogUsageOf, createPriceCatalog } from '../../src/pricing/price-catalog.js';
import { openAiAdapter } from '../../src/providers/openai/index.js';
import type { RouteMatch } from '../../src/providers/types.js';
import type { TokenDetails, TokenUsage } from '../../src/usage.js';
import { readQuirkCaptureJson } from '../providers/openai-quirks-cases.js';

/**
 * Audio and image tokens priced at the model's own catalog rates. Expected costs are computed
 * here from the rates the catalog lists for the model (read from the catalog data, not through
 * the pricer): a pricer that bills audio as text, or counts an audio part on top of the prompt,
 * fails.
 */

function catalogRates(modelId: string): Record<string, number> {
  const model = findProvider({ providerId: 'openai' })?.models.find((m) => m.id === modelId);
  assert.ok(model !== undefined && !Array.isArray(model.prices), `openai/${modelId} has one flat price`);
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

const CHAT = openAiAdapter.matchRoute('POST', '/chat/completions') as RouteMatch;

/** The counts and details of the recorded gpt-4o-audio-preview call (44 audio tokens of 64). */
function recordedAudioCall(): { usage: TokenUsage; details: TokenDetails } {
  const extracted = openAiAdapter.extractUsage(
    CHAT,
    readQuirkCaptureJson('openai-audio-preview-nonstream-audio-input.json'),
  );
  assert.ok(extracted.tokenDetails !== undefined);
  return { usage: extracted.usage, details: extracted.tokenDetails };
}

describe('the catalog prices audio and image parts at their own rates', () => {
  test('gpt-realtime: the recorded audio call costs what the catalog rates say, on the first and the memoised path', () => {
    const { usage, details } = recordedAudioCall();
    const rates = catalogRates('gpt-realtime');
    const prompt = usage.promptTokens ?? 0;
    const audio = details.audioPromptTokens ?? 0;
    const expected =
      ((prompt - audio) * rate(rates, 'input_mtok') +
        audio * rate(rates, 'input_audio_mtok') +
        (usage.completionTokens ?? 0) * rate(rates, 'output_mtok')) /
      1e6;
    const catalog = createPriceCatalog();
    // First call: the catalog's full match; second: the memoised match (no flat shortcut).
    assertCost(catalog.costOf('openai', 'gpt-realtime', usage, undefined, details), expected, 'first');
    assertCost(catalog.costOf('openai', 'gpt-realtime', usage, undefined, details), expected, 'memoised');
    const asText = catalog.costOf('openai', 'gpt-realtime', usage);
    assert.ok(asText !== undefined && asText < expected, 'audio input costs more than text input');
  });

  test('gpt-realtime: cached audio, image input and audio output, every part once', () => {
    const rates = catalogRates('gpt-realtime');
    const usage: TokenUsage = {
      promptTokens: 1000,
      completionTokens: 500,
      totalTokens: 1500,
      cachedTokens: 300,
    };
    const details: TokenDetails = {
      audioPromptTokens: 600,
      cachedAudioTokens: 200,
      imagePromptTokens: 100,
      audioCompletionTokens: 400,
    };
    // Leaves: cached audio 200, cached text 100, uncached audio 400, image 100, uncached text
    // 1000 − 600 − 100 − 100 = 200; output audio 400, text 100.
    const expected =
      (200 * rate(rates, 'input_mtok') +
        400 * rate(rates, 'input_audio_mtok') +
        100 * rate(rates, 'input_image_mtok') +
        100 * rate(rates, 'cache_read_mtok') +
        200 * rate(rates, 'cache_audio_read_mtok') +
        100 * rate(rates, 'output_mtok') +
        400 * rate(rates, 'output_audio_mtok')) /
      1e6;
    const catalog = createPriceCatalog();
    catalog.costOf('openai', 'gpt-realtime', { promptTokens: 1 });
    assertCost(catalog.costOf('openai', 'gpt-realtime', usage, undefined, details), expected, 'all parts');
  });

  test('gpt-4o-audio-preview: the catalog lists no audio rate, so its audio is priced at the input rate', () => {
    const { usage, details } = recordedAudioCall();
    const rates = catalogRates('gpt-4o-audio-preview');
    assert.equal(rates['input_audio_mtok'], undefined, 'the catalog has no audio rate for this model');
    const expected =
      ((usage.promptTokens ?? 0) * rate(rates, 'input_mtok') +
        (usage.completionTokens ?? 0) * rate(rates, 'output_mtok')) /
      1e6;
    assertCost(
      createPriceCatalog().costOf('openai', 'gpt-4o-audio-preview', usage, undefined, details),
      expected,
      'audio preview',
    );
  });

  test("the call pricer passes a record's details to the catalog; overrides price the counts alone", () => {
    const config = configSchema.parse({
      backends: [{ id: 'oai', type: 'openai', url: 'https://api.openai.com/v1' }],
      apis: [{ id: 'a', path: '/a', type: 'openai', backend: 'oai' }],
      products: [{ id: 'p', apis: ['a'] }],
      subscriptions: [{ id: 'team-a', key: 'team-a-secret', product: 'p' }],
      pricing: { overrides: [{ model: 'house-audio', input: 2, output: 8 }] },
    });
    const pricer = createCallPricer(config);
    const { usage, details } = recordedAudioCall();
    const base = { backend: 'oai', time: Date.now(), usage };
    const withDetails = pricer.costOf({ ...base, model: 'gpt-realtime', tokenDetails: details });
    const plain = pricer.costOf({ ...base, model: 'gpt-realtime' });
    assert.ok(withDetails !== undefined && plain !== undefined && withDetails > plain);
    const override = pricer.costOf({ ...base, model: 'house-audio', tokenDetails: details });
    assertCost(
      override,
      ((usage.promptTokens ?? 0) * 2 + (usage.completionTokens ?? 0) * 8) / 1e6,
      'override',
    );
  });
});

describe('details that cannot be parts of the counts are priced as text, never refused', () => {
  const usage: TokenUsage = { promptTokens: 100, completionTokens: 50, totalTokens: 150, cachedTokens: 10 };
  const cases: [string, TokenDetails][] = [
    ['audio above the prompt', { audioPromptTokens: 101 }],
    ['audio + image above the prompt', { audioPromptTokens: 60, imagePromptTokens: 50 }],
    ['cached audio above the cached tokens', { audioPromptTokens: 50, cachedAudioTokens: 11 }],
    ['cached audio above the audio', { audioPromptTokens: 5, cachedAudioTokens: 6 }],
    ['audio output above the completion', { audioCompletionTokens: 51 }],
    ['negative and fractional parts', { audioPromptTokens: -5, audioCompletionTokens: 1.5 }],
  ];
  for (const [name, details] of cases) {
    test(name, () => {
      const catalog = createPriceCatalog();
      const asText = catalog.costOf('openai', 'gpt-realtime', usage);
      assert.ok(asText !== undefined);
      assert.equal(catalog.costOf('openai', 'gpt-realtime', usage, undefined, details), asText);
    });
  }

  test('cached audio without reported cached tokens is not passed (the catalog would refuse the call)', () => {
    const out = catalogUsageOf(
      { promptTokens: 100, completionTokens: 5 },
      { audioPromptTokens: 50, cachedAudioTokens: 5 },
    );
    assert.deepEqual(out, { input_tokens: 100, output_tokens: 5 });
  });
});

test('cached tokens beside audio or image parts with no cached breakdown are priced as cached text', () => {
  const rates = catalogRates('gpt-realtime');
  const usage: TokenUsage = { promptTokens: 100, completionTokens: 5, cachedTokens: 10 };
  const details: TokenDetails = { audioPromptTokens: 50, imagePromptTokens: 20 };
  const expected =
    (20 * rate(rates, 'input_mtok') +
      50 * rate(rates, 'input_audio_mtok') +
      20 * rate(rates, 'input_image_mtok') +
      10 * rate(rates, 'cache_read_mtok') +
      5 * rate(rates, 'output_mtok')) /
    1e6;
  assertCost(
    createPriceCatalog().costOf('openai', 'gpt-realtime', usage, undefined, details),
    expected,
    'no breakdown',
  );
});
