// Bad inputs for each OpenAI-compatible quirk: absurd or contradictory counts are screened
// (usage_invalid, through INVALID_COUNT), a bad cost or bad details are dropped, nothing throws,
// nothing is counted twice, and a chunk with content is never dropped.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openAiAdapter, readChatChunk } from '../../src/providers/openai/index.js';
import {
  normaliseReasoning,
  readProviderCost,
  readTokenDetails,
} from '../../src/providers/openai/usage-quirks.js';
import type { RouteMatch } from '../../src/providers/types.js';
import { invalidUsageFields, type TokenUsage } from '../../src/usage.js';
import { createRandom, splitRandomly } from '../sse/chunking.js';

const CHAT = openAiAdapter.matchRoute('POST', '/chat/completions') as RouteMatch;
const RESPONSES = openAiAdapter.matchRoute('POST', '/responses') as RouteMatch;

const chatUsage = (usage: Record<string, unknown>): TokenUsage =>
  openAiAdapter.extractUsage(CHAT, { model: 'm', usage }).usage;

describe('reasoning outside completion_tokens: the rule', () => {
  test('exact gap: completion takes the reasoning, prompt + completion = total', () => {
    const usage = chatUsage({
      prompt_tokens: 10,
      completion_tokens: 300,
      total_tokens: 410,
      completion_tokens_details: { reasoning_tokens: 100 },
    });
    // R ≤ C here, yet the gap is exactly R: reported outside.
    assert.deepEqual(usage, {
      promptTokens: 10,
      completionTokens: 400,
      totalTokens: 410,
      reasoningTokens: 100,
    });
  });

  test('Responses API usage follows the same rule', () => {
    const usage = openAiAdapter.extractUsage(RESPONSES, {
      usage: {
        input_tokens: 12,
        output_tokens: 1,
        total_tokens: 241,
        output_tokens_details: { reasoning_tokens: 228 },
      },
    }).usage;
    assert.deepEqual(usage, {
      promptTokens: 12,
      completionTokens: 229,
      totalTokens: 241,
      reasoningTokens: 228,
    });
  });

  test('OpenAI (reasoning inside) is left as reported', () => {
    const reported = { promptTokens: 162, completionTokens: 219, totalTokens: 381, reasoningTokens: 192 };
    assert.deepEqual(normaliseReasoning(reported), reported);
  });

  const contradictions: [string, Record<string, unknown>][] = [
    [
      'reasoning above the total',
      {
        prompt_tokens: 10,
        completion_tokens: 5,
        total_tokens: 15,
        completion_tokens_details: { reasoning_tokens: 50 },
      },
    ],
    [
      'reasoning above completion and not the gap',
      {
        prompt_tokens: 10,
        completion_tokens: 5,
        total_tokens: 40,
        completion_tokens_details: { reasoning_tokens: 20 },
      },
    ],
    [
      'reasoning above completion and no total',
      { prompt_tokens: 10, completion_tokens: 5, completion_tokens_details: { reasoning_tokens: 20 } },
    ],
    [
      'reasoning above completion, no prompt',
      { completion_tokens: 5, total_tokens: 25, completion_tokens_details: { reasoning_tokens: 20 } },
    ],
  ];
  for (const [name, usage] of contradictions) {
    test(`${name}: screened (reasoningTokens invalid), never a record with prompt + completion ≠ total`, () => {
      assert.deepEqual(invalidUsageFields(chatUsage(usage)), ['reasoningTokens']);
    });
  }

  test("a gap that reasoning does not explain stays the provider's (the core tolerates a total above the sum)", () => {
    const noReasoning = chatUsage({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 40 });
    assert.deepEqual(noReasoning, { promptTokens: 10, completionTokens: 5, totalTokens: 40 });
    assert.deepEqual(invalidUsageFields(noReasoning), []);
    const zero = chatUsage({
      prompt_tokens: 10,
      completion_tokens: 5,
      total_tokens: 40,
      completion_tokens_details: { reasoning_tokens: 0 },
    });
    assert.equal(zero.completionTokens, 5);
    const inside = chatUsage({
      prompt_tokens: 10,
      completion_tokens: 5,
      total_tokens: 40,
      completion_tokens_details: { reasoning_tokens: 3 },
    });
    assert.equal(inside.completionTokens, 5);
  });

  test('a total below the sum with reasoning is screened by the core (totalTokens)', () => {
    const usage = chatUsage({
      prompt_tokens: 10,
      completion_tokens: 5,
      total_tokens: 12,
      completion_tokens_details: { reasoning_tokens: 2 },
    });
    assert.deepEqual(invalidUsageFields(usage), ['totalTokens']);
  });

  test('absurd counts stay absurd through the rule (NaN fails every comparison)', () => {
    for (const bad of [-1, 1.5, '12', 1e20]) {
      const usage = chatUsage({
        prompt_tokens: 10,
        completion_tokens: 5,
        total_tokens: 15,
        completion_tokens_details: { reasoning_tokens: bad },
      });
      assert.deepEqual(invalidUsageFields(usage), ['reasoningTokens'], String(bad));
      const total = chatUsage({
        prompt_tokens: 10,
        completion_tokens: 1,
        total_tokens: bad,
        completion_tokens_details: { reasoning_tokens: 4 },
      });
      assert.ok(invalidUsageFields(total).length > 0, `total ${String(bad)}`);
    }
  });
});

describe('Groq x_groq.usage', () => {
  const finish = (extra: string): string =>
    `{"id":"c","object":"chat.completion.chunk","model":"llama","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],${extra}}`;

  test('top-level usage wins over x_groq.usage when both are there (never added)', () => {
    const { facts } = readChatChunk(
      finish(
        '"x_groq":{"id":"r","usage":{"prompt_tokens":99,"completion_tokens":99,"total_tokens":198}},"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}',
      ),
    );
    assert.deepEqual(facts.usage, { promptTokens: 3, completionTokens: 4, totalTokens: 7 });
  });

  test('x_groq without usage, with a usage that is not an object, or not an object itself: no usage', () => {
    for (const extra of [
      '"x_groq":{"id":"r"}',
      '"x_groq":{"usage":null}',
      '"x_groq":{"usage":"7"}',
      '"x_groq":{"usage":[1,2]}',
      '"x_groq":"x"',
      '"x_groq":null',
    ]) {
      assert.equal(readChatChunk(finish(extra)).facts.usage, undefined, extra);
    }
  });

  test('absurd x_groq counts are screened like top-level ones', () => {
    const { facts } = readChatChunk(finish('"x_groq":{"usage":{"prompt_tokens":-3,"completion_tokens":4}}'));
    assert.deepEqual(invalidUsageFields(facts.usage ?? {}), ['promptTokens']);
  });

  test('a chunk with choices and x_groq usage is never usage-only (never stripped)', () => {
    assert.equal(
      readChatChunk(finish('"x_groq":{"usage":{"prompt_tokens":3,"completion_tokens":4}}')).usageOnly,
      false,
    );
    const emptyChoices = '{"choices":[],"x_groq":{"usage":{"prompt_tokens":3,"completion_tokens":4}}}';
    assert.equal(
      readChatChunk(emptyChoices).usageOnly,
      false,
      'only a top-level usage answers include_usage',
    );
  });
});

/** Replays SSE text through a chat tap and returns what was forwarded and read. */
function replay(text: string, strip: boolean, seed = 1): { out: string; usage: TokenUsage; cost?: number } {
  const tap = openAiAdapter.createStreamTap(CHAT, { stripUsageChunk: strip });
  const parts = splitRandomly(Buffer.from(text), createRandom(seed)).map((c) => tap.push(c));
  parts.push(tap.flush());
  const result = tap.result();
  return {
    out: Buffer.concat(parts).toString(),
    usage: result.usage,
    ...(result.providerCost !== undefined ? { cost: result.providerCost } : {}),
  };
}

describe('running totals (continuous_usage_stats)', () => {
  const chunk = (content: string, p: number, c: number): string =>
    `data: {"object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"${content}"}}],"usage":{"prompt_tokens":${p},"completion_tokens":${c},"total_tokens":${p + c}}}\n\n`;

  test('a later, smaller running total still replaces the earlier (last wins, neither sum nor max)', () => {
    const text = chunk('a', 5, 1) + chunk('b', 5, 9) + chunk('c', 5, 3) + 'data: [DONE]\n\n';
    for (let seed = 1; seed <= 20; seed += 1)
      assert.deepEqual(replay(text, true, seed).usage, {
        promptTokens: 5,
        completionTokens: 3,
        totalTokens: 8,
      });
  });

  test('an absurd running total in the middle is replaced by the next sane one', () => {
    const bad =
      'data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"x"}}],"usage":{"prompt_tokens":"5"}}\n\n';
    const text = chunk('a', 5, 1) + bad + chunk('c', 5, 3) + 'data: [DONE]\n\n';
    assert.deepEqual(replay(text, false).usage, { promptTokens: 5, completionTokens: 3, totalTokens: 8 });
  });

  test('content chunks carrying usage are forwarded byte for byte when stripping; the usage-only chunk goes', () => {
    const content = chunk('a', 5, 1) + chunk('b', 5, 2);
    const usageOnly =
      'data: {"object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n';
    for (let seed = 1; seed <= 20; seed += 1) {
      const { out, usage } = replay(content + usageOnly + 'data: [DONE]\n\n', true, seed);
      assert.equal(out, content + 'data: [DONE]\n\n');
      assert.deepEqual(usage, { promptTokens: 5, completionTokens: 2, totalTokens: 7 });
    }
  });
});

describe('SSE comments', () => {
  test('a comment that looks like usage is relayed and never read', () => {
    const comment = ': data: {"choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":1000}}\n\n';
    const text =
      ': PROCESSING\n\n' +
      comment +
      'data: {"choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}\n\n' +
      ': OPENROUTER PROCESSING\n\n' +
      'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}\n\n' +
      'data: [DONE]\n\n';
    for (let seed = 1; seed <= 20; seed += 1) {
      const { out, usage } = replay(text, true, seed);
      assert.deepEqual(usage, { promptTokens: 3, completionTokens: 1, totalTokens: 4 });
      assert.ok(out.startsWith(': PROCESSING\n\n' + comment), 'comments relayed unchanged');
      assert.ok(out.includes(': OPENROUTER PROCESSING\n\n'));
      assert.ok(!out.includes('"prompt_tokens":3'), 'the usage-only chunk the gateway asked for is stripped');
    }
  });

  test('a stream of comments only has no usage and is not complete', () => {
    const tap = openAiAdapter.createStreamTap(CHAT, { stripUsageChunk: true });
    const input = Buffer.from(': PROCESSING\n\n: PROCESSING\n\n');
    assert.equal(Buffer.concat([tap.push(input), tap.flush()]).toString(), input.toString());
    assert.deepEqual(tap.result().usage, {});
    assert.equal(tap.result().completed, false);
  });
});

describe('DeepSeek cache hits', () => {
  test('cached_tokens wins; prompt_cache_hit_tokens is read only without it (never added)', () => {
    const both = chatUsage({
      prompt_tokens: 100,
      completion_tokens: 1,
      prompt_tokens_details: { cached_tokens: 64 },
      prompt_cache_hit_tokens: 64,
      prompt_cache_miss_tokens: 36,
    });
    assert.equal(both.cachedTokens, 64);
    const hitOnly = chatUsage({
      prompt_tokens: 100,
      completion_tokens: 1,
      prompt_cache_hit_tokens: 64,
      prompt_cache_miss_tokens: 36,
    });
    assert.equal(hitOnly.cachedTokens, 64);
    const disagree = chatUsage({
      prompt_tokens: 100,
      completion_tokens: 1,
      prompt_tokens_details: { cached_tokens: 10 },
      prompt_cache_hit_tokens: 64,
    });
    assert.equal(disagree.cachedTokens, 10);
  });

  test('a hit count above the prompt, or not a count, is screened', () => {
    assert.deepEqual(
      invalidUsageFields(chatUsage({ prompt_tokens: 10, completion_tokens: 1, prompt_cache_hit_tokens: 11 })),
      ['cachedTokens'],
    );
    for (const bad of [-1, '5', 2.5])
      assert.deepEqual(
        invalidUsageFields(
          chatUsage({ prompt_tokens: 10, completion_tokens: 1, prompt_cache_hit_tokens: bad }),
        ),
        ['cachedTokens'],
      );
  });

  test('a hit count without a prompt count is kept as reported', () => {
    assert.equal(chatUsage({ completion_tokens: 1, prompt_cache_hit_tokens: 7 }).cachedTokens, 7);
  });
});

describe('provider cost', () => {
  test('usage.cost: a finite non-negative number, 0 included; anything else ignored, never a crash', () => {
    assert.equal(readProviderCost({ cost: 0.25 }), 0.25);
    assert.equal(readProviderCost({ cost: 0 }), 0);
    const bad: unknown[] = [-0.01, '0.1', null, true, Infinity, -Infinity, Number.NaN, { usd: 1 }];
    for (const [i, cost] of bad.entries()) assert.equal(readProviderCost({ cost }), undefined, `case ${i}`);
  });

  test('1e400 in the JSON text parses to Infinity and is ignored; the counts still stand', () => {
    const body = JSON.parse(
      '{"model":"m","usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"cost":1e400}}',
    ) as unknown;
    const extracted = openAiAdapter.extractUsage(CHAT, body);
    assert.equal(extracted.providerCost, undefined);
    assert.deepEqual(extracted.usage, { promptTokens: 3, completionTokens: 4, totalTokens: 7 });
  });

  test('xAI ticks: a safe non-negative integer; usage.cost wins when both are there', () => {
    assert.equal(readProviderCost({ cost_in_usd_ticks: 10_000_000_000 }), 1);
    for (const bad of [-5, 1.5, '100', 2 ** 60])
      assert.equal(readProviderCost({ cost_in_usd_ticks: bad }), undefined, String(bad));
    assert.equal(readProviderCost({ cost: 0.5, cost_in_usd_ticks: 10_000_000_000 }), 0.5);
  });

  test('a stream: the cost travels with its usage block; a later block without cost clears it (never summed)', () => {
    const block = (p: number, cost?: number): string =>
      `data: {"choices":[],"usage":{"prompt_tokens":${p},"completion_tokens":1,"total_tokens":${p + 1}${cost === undefined ? '' : `,"cost":${cost}`}}}\n\n`;
    assert.equal(replay(block(3, 0.5) + block(3, 0.25) + 'data: [DONE]\n\n', false).cost, 0.25);
    assert.equal(replay(block(3, 0.5) + block(4) + 'data: [DONE]\n\n', false).cost, undefined);
  });
});

describe('token details', () => {
  const counts: TokenUsage = { promptTokens: 64, completionTokens: 9 };
  const details = (prompt: Record<string, unknown>, completion: Record<string, unknown> = {}) =>
    readTokenDetails({ prompt_tokens_details: prompt, completion_tokens_details: completion }, counts);

  test('audio and image parts are read; zeros are not details', () => {
    assert.deepEqual(details({ audio_tokens: 44, image_tokens: 10 }, { audio_tokens: 5 }), {
      audioPromptTokens: 44,
      imagePromptTokens: 10,
      audioCompletionTokens: 5,
    });
    assert.equal(details({ audio_tokens: 0, image_tokens: 0 }, { audio_tokens: 0 }), undefined);
    assert.equal(readTokenDetails({}, counts), undefined);
  });

  const bad: [string, Record<string, unknown>, Record<string, unknown>][] = [
    ['audio above the prompt', { audio_tokens: 65 }, {}],
    ['audio + image above the prompt', { audio_tokens: 40, image_tokens: 30 }, {}],
    ['audio output above the completion', {}, { audio_tokens: 10 }],
    ['a negative part', { audio_tokens: -1 }, {}],
    ['a string part', { audio_tokens: '44' }, {}],
    ['a fractional part', {}, { audio_tokens: 1.5 }],
  ];
  for (const [name, prompt, completion] of bad) {
    test(`${name}: no details (priced as text), the counts stand`, () => {
      assert.equal(details(prompt, completion), undefined);
      const usage = {
        prompt_tokens: 64,
        completion_tokens: 9,
        total_tokens: 73,
        prompt_tokens_details: prompt,
        completion_tokens_details: completion,
      };
      const extracted = openAiAdapter.extractUsage(CHAT, { usage });
      assert.equal(extracted.tokenDetails, undefined);
      assert.deepEqual(extracted.usage, { promptTokens: 64, completionTokens: 9, totalTokens: 73 });
    });
  }

  test('details without a prompt count cannot be placed and are dropped', () => {
    assert.equal(readTokenDetails({ prompt_tokens_details: { audio_tokens: 3 } }, {}), undefined);
  });
});
