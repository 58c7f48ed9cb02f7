// Every Bedrock capture (test/fixtures/captures/bedrock, see its INDEX.md) replayed whole and
// split at random byte boundaries, with the counts INDEX.md says a parser must find.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { bedrockAdapter } from '../../src/providers/bedrock/index.js';
import type { RouteMatch, StreamResult } from '../../src/providers/types.js';
import type { TokenUsage } from '../../src/usage.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { createRandom, splitAt, splitRandomly } from '../sse/chunking.js';

const DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'captures', 'bedrock');
const SEEDS = 100;

const read = (name: string): Buffer => readFileSync(path.join(DIR, name));

function route(modelPath: string, action: string): RouteMatch {
  const match = bedrockAdapter.matchRoute('POST', `/model/${modelPath}/${action}`);
  assert.ok(match);
  return match;
}

interface JsonCase {
  file: string;
  modelPath: string;
  action: 'converse' | 'invoke';
  usage: TokenUsage;
  model?: string;
}

const JSON_CASES: JsonCase[] = [
  {
    file: 'converse-claude-cache-write.json',
    modelPath: 'us.anthropic.claude-sonnet-4-5-20250929-v1%3A0',
    action: 'converse',
    // inputTokens 2 excludes the 1322 written to the cache; totalTokens 1329 includes them.
    usage: {
      promptTokens: 1324,
      completionTokens: 5,
      totalTokens: 1329,
      cachedTokens: 0,
      cacheWriteTokens: 1322,
    },
  },
  {
    file: 'converse-claude-cache-read.json',
    modelPath: 'us.anthropic.claude-sonnet-4-5-20250929-v1%3A0',
    action: 'converse',
    usage: {
      promptTokens: 1324,
      completionTokens: 5,
      totalTokens: 1329,
      cachedTokens: 1322,
      cacheWriteTokens: 0,
    },
  },
  {
    file: 'converse-guardrail-trace.json',
    modelPath: 'us.amazon.nova-micro-v1%3A0',
    action: 'converse',
    // The trace's guardrail usage (topicPolicyUnits 1, twice) is not tokens.
    usage: { promptTokens: 13, completionTokens: 69, totalTokens: 82 },
  },
  {
    file: 'invoke-anthropic.json',
    modelPath: 'anthropic.claude-v2',
    action: 'invoke',
    usage: { promptTokens: 14, completionTokens: 10, totalTokens: 24 },
    model: 'claude-2.0',
  },
  {
    file: 'invoke-nova.json',
    modelPath: 'amazon.nova-micro-v1%3A0',
    action: 'invoke',
    usage: { promptTokens: 5, completionTokens: 10, totalTokens: 15 },
  },
  {
    file: 'invoke-titan.json',
    modelPath: 'amazon.titan-text-lite-v1',
    action: 'invoke',
    usage: { promptTokens: 5, completionTokens: 10, totalTokens: 15 },
  },
  {
    file: 'invoke-meta-llama.json',
    modelPath: 'meta.llama3-1-70b-instruct-v1%3A0',
    action: 'invoke',
    usage: { promptTokens: 5, completionTokens: 10, totalTokens: 15 },
  },
  {
    file: 'invoke-nova-tool-call.json',
    modelPath: 'amazon.nova-micro-v1%3A0',
    action: 'invoke',
    // Recorded with the cache-count headers (0 and 0): they are reported, so kept as 0.
    usage: {
      promptTokens: 427,
      completionTokens: 162,
      totalTokens: 589,
      cachedTokens: 0,
      cacheWriteTokens: 0,
    },
  },
  {
    file: 'invoke-cohere-command-r.json',
    modelPath: 'cohere.command-r-v1%3A0',
    action: 'invoke',
    usage: { promptTokens: 5, completionTokens: 10, totalTokens: 15 },
  },
  {
    file: 'invoke-mistral.json',
    modelPath: 'mistral.mistral-7b-instruct-v0%3A2',
    action: 'invoke',
    usage: { promptTokens: 6, completionTokens: 10, totalTokens: 16 },
  },
];

/** The recorded headers of an InvokeModel capture (none for Converse ones). */
function recordedHeaders(file: string): Record<string, string> {
  if (!file.startsWith('invoke-')) return {};
  return JSON.parse(read(file.replace(/\.json$/, '.headers.json')).toString('utf8')) as Record<
    string,
    string
  >;
}

describe('non-streamed captures', () => {
  for (const c of JSON_CASES) {
    test(`${c.file}: exact counts, no flag`, () => {
      const body = JSON.parse(read(c.file).toString('utf8')) as unknown;
      const extracted = bedrockAdapter.extractUsage(
        route(c.modelPath, c.action),
        body,
        recordedHeaders(c.file),
      );
      assert.deepEqual(extracted.usage, c.usage);
      assert.equal(extracted.responseModel, c.model);
      assert.equal(extracted.flags, undefined);
    });
  }

  test('cohere and mistral bodies report nothing: the counts are the headers alone', () => {
    for (const file of ['invoke-cohere-command-r.json', 'invoke-mistral.json']) {
      const body = JSON.parse(read(file).toString('utf8')) as unknown;
      assert.deepEqual(bedrockAdapter.extractUsage(route('m', 'invoke'), body).usage, {});
    }
  });

  test('the headers win over the body: the same body with other headers is billed by them, flagged', () => {
    const body = JSON.parse(read('invoke-anthropic.json').toString('utf8')) as unknown;
    const extracted = bedrockAdapter.extractUsage(route('anthropic.claude-v2', 'invoke'), body, {
      'x-amzn-bedrock-input-token-count': '15',
      'x-amzn-bedrock-output-token-count': '10',
    });
    assert.deepEqual(extracted.usage, { promptTokens: 15, completionTokens: 10, totalTokens: 25 });
    assert.deepEqual(extracted.flags, ['billed_counts_differ']);
  });

  test('converse-error-400.json: an error body has no usage', () => {
    const body = JSON.parse(read('converse-error-400.json').toString('utf8')) as unknown;
    assert.deepEqual(
      bedrockAdapter.extractUsage(route('us.does-not-exist-model-v1%3A0', 'converse'), body).usage,
      {},
    );
  });
});

interface StreamCase {
  file: string;
  modelPath: string;
  action: 'converse-stream' | 'invoke-with-response-stream';
  usage: TokenUsage;
  model?: string;
  textStart: string;
}

const STREAM_CASES: StreamCase[] = [
  {
    file: 'converse-stream-nova-micro.eventstream',
    modelPath: 'us.amazon.nova-micro-v1%3A0',
    action: 'converse-stream',
    usage: { promptTokens: 13, completionTokens: 82, totalTokens: 95 },
    textStart: 'The capital of France is Paris.',
  },
  {
    file: 'converse-stream-claude-thinking.eventstream',
    modelPath: 'us.anthropic.claude-sonnet-4-20250514-v1%3A0',
    action: 'converse-stream',
    usage: { promptTokens: 36, completionTokens: 73, totalTokens: 109 },
    textStart: 'The user has greeted me',
  },
  {
    file: 'converse-stream-tool-call.eventstream',
    modelPath: 'amazon.nova-micro-v1%3A0',
    action: 'converse-stream',
    usage: { promptTokens: 415, completionTokens: 202, totalTokens: 617 },
    textStart: '<thinking>',
  },
  {
    file: 'invoke-stream-anthropic.eventstream',
    modelPath: 'anthropic.claude-v2',
    action: 'invoke-with-response-stream',
    // message_start says output 1, message_delta 10: replaced, not summed (10, not 11).
    usage: { promptTokens: 14, completionTokens: 10, totalTokens: 24 },
    model: 'claude-2.0',
    textStart: 'Okay, I will repeat: This is a test',
  },
  {
    file: 'invoke-stream-nova.eventstream',
    modelPath: 'amazon.nova-micro-v1%3A0',
    action: 'invoke-with-response-stream',
    usage: { promptTokens: 5, completionTokens: 10, totalTokens: 15 },
    textStart: "It sounds like you're initiating a message or",
  },
  {
    file: 'invoke-stream-nova-tool-call.eventstream',
    modelPath: 'amazon.nova-micro-v1%3A0',
    action: 'invoke-with-response-stream',
    usage: {
      promptTokens: 427,
      completionTokens: 156,
      totalTokens: 583,
      cachedTokens: 0,
      cacheWriteTokens: 0,
    },
    textStart: '<thinking> The User has requested the current weather in Seattle',
  },
  {
    file: 'invoke-stream-titan.eventstream',
    modelPath: 'amazon.titan-text-lite-v1',
    action: 'invoke-with-response-stream',
    usage: { promptTokens: 5, completionTokens: 10, totalTokens: 15 },
    textStart: '\nHello! I am a computer program designed to',
  },
];

interface Replay {
  output: Buffer;
  result: StreamResult;
}

function replay(c: StreamCase, chunks: readonly Buffer[]): Replay {
  const tap = bedrockAdapter.createStreamTap(route(c.modelPath, c.action), { stripUsageChunk: false });
  const out: Buffer[] = [];
  for (const chunk of chunks) {
    // Complete only once the last event is in: the last push may bring it, never an earlier one.
    assert.equal(tap.isComplete?.(), false);
    const forwarded = tap.push(chunk);
    // Bytes relayed unchanged: the very Buffer comes back.
    assert.equal(forwarded, chunk);
    out.push(forwarded);
  }
  out.push(tap.flush());
  const result = tap.result();
  assert.equal(tap.isComplete?.(), result.completed);
  return { output: Buffer.concat(out), result };
}

describe('streamed captures', () => {
  for (const c of STREAM_CASES) {
    describe(c.file, () => {
      const original = read(c.file);

      test('is an event stream by its content type', () => {
        const r = route(c.modelPath, c.action);
        assert.equal(bedrockAdapter.isStreamedResponse?.(r, 'application/vnd.amazon.eventstream'), true);
        assert.equal(bedrockAdapter.isStreamedResponse?.(r, 'application/json'), false);
      });

      test('replayed whole: exact counts, model, text, bytes unchanged', () => {
        const { output, result } = replay(c, [original]);
        assert.ok(output.equals(original));
        assert.deepEqual(result.usage, c.usage);
        assert.equal(result.responseModel, c.model);
        assert.equal(result.completed, true);
        assert.equal(result.errored, false);
        assert.equal(result.flags, undefined);
        assert.ok(result.generatedText.startsWith(c.textStart), result.generatedText);
      });

      test(`${SEEDS} random splits give the same result, bytes unchanged`, () => {
        const whole = replay(c, [original]).result;
        for (let seed = 1; seed <= SEEDS; seed += 1) {
          const { output, result } = replay(c, splitRandomly(original, createRandom(seed)));
          assert.ok(output.equals(original), `seed ${seed}`);
          assert.deepEqual(result, whole, `seed ${seed}`);
        }
      });

      test('split at every single byte', () => {
        const whole = replay(c, [original]).result;
        const points = Array.from({ length: original.length }, (_, i) => i);
        assert.deepEqual(replay(c, splitAt(original, points)).result, whole);
      });

      test('property: any split points give the same counts (fast-check)', () => {
        const whole = replay(c, [original]).result;
        fc.assert(
          fc.property(fc.array(fc.integer({ min: 0, max: original.length }), { maxLength: 40 }), (points) => {
            const sorted = [...new Set(points)].sort((a, b) => a - b);
            const { output, result } = replay(c, splitAt(original, sorted));
            assert.ok(output.equals(original));
            assert.deepEqual(result.usage, whole.usage);
            assert.equal(result.completed, true);
          }),
          { numRuns: 100 },
        );
      });

      test('cut short at any byte: never completed, never more than the whole, never an error', () => {
        const whole = replay(c, [original]).result;
        for (let cut = 0; cut < original.length; cut += Math.max(1, Math.floor(original.length / 97))) {
          const { result } = replay(c, [original.subarray(0, cut)]);
          assert.equal(result.completed, false, `cut at ${cut}`);
          assert.equal(result.errored, false, `cut at ${cut}`);
          for (const key of ['promptTokens', 'completionTokens', 'totalTokens'] as const) {
            const value = result.usage[key];
            if (value !== undefined) assert.ok(value <= (whole.usage[key] ?? 0), `cut at ${cut}: ${key}`);
          }
        }
      });
    });
  }
});
