// The recorded OpenAI-compatible answers (test/fixtures/captures/openai-compatible, INDEX.md)
// replayed through the `openai` adapter whole and split at random byte boundaries: the counts
// tokenmeter records, the provider's cost, the modality details, and the bytes forwarded.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openAiAdapter } from '../../src/providers/openai/index.js';
import type { RouteMatch, StreamResult } from '../../src/providers/types.js';
import { invalidUsageFields } from '../../src/usage.js';
import { createRandom, splitRandomly, utf8Midpoints, splitAt, withLineEnding } from '../sse/chunking.js';
import {
  QUIRK_JSON_CASES,
  QUIRK_STREAM_CASES,
  readQuirkCapture,
  readQuirkCaptureJson,
  type QuirkCase,
} from './openai-quirks-cases.js';

const CHAT = openAiAdapter.matchRoute('POST', '/chat/completions') as RouteMatch;

/** Seeds per capture and line ending: fewer for the ~280 KB Groq stream, same coverage per byte. */
function seedsFor(size: number): number {
  return Math.max(6, Math.min(60, Math.floor(1_500_000 / size)));
}

function assertQuirkResult(
  actual: StreamResult | ReturnType<typeof openAiAdapter.extractUsage>,
  c: QuirkCase,
): void {
  // deepEqual is strict: a count the capture lacks must be absent, not 0.
  assert.deepEqual(actual.usage, c.usage);
  assert.equal(actual.responseModel, c.model);
  assert.equal(actual.providerCost, c.providerCost);
  assert.deepEqual(actual.tokenDetails, c.tokenDetails);
  // The record stays consistent: prompt + completion = the total the provider reported.
  const { promptTokens = 0, completionTokens = 0, totalTokens } = actual.usage;
  assert.equal(promptTokens + completionTokens, totalTokens);
  assert.deepEqual(invalidUsageFields(actual.usage), []);
}

describe('recorded non-streamed answers', () => {
  for (const c of QUIRK_JSON_CASES) {
    test(c.file, () => {
      assertQuirkResult(openAiAdapter.extractUsage(CHAT, readQuirkCaptureJson(c.file)), c);
    });
  }

  test('xAI: the capture itself reports reasoning outside completion_tokens', () => {
    for (const file of ['xai-grok3mini-nonstream.json', 'xai-grok3mini-nonstream-toolcall.json']) {
      const usage = readQuirkCaptureJson(file)['usage'] as {
        prompt_tokens: number;
        completion_tokens: number;
        total_tokens: number;
        completion_tokens_details: { reasoning_tokens: number };
      };
      const gap = usage.total_tokens - usage.prompt_tokens - usage.completion_tokens;
      assert.ok(gap > 0, file);
      assert.equal(gap, usage.completion_tokens_details.reasoning_tokens, file);
      const extracted = openAiAdapter.extractUsage(CHAT, { usage });
      assert.equal(extracted.usage.completionTokens, usage.completion_tokens + gap);
    }
  });

  test('DeepSeek: prompt_cache_hit_tokens stands in when cached_tokens is absent (capture with prompt_tokens_details removed)', () => {
    // Derived from the recording, not recorded: every DeepSeek answer found carries both fields.
    const body = readQuirkCaptureJson('deepseek-nonstream-cache-hit.json');
    const usage = { ...(body['usage'] as Record<string, unknown>) };
    const hit = usage['prompt_cache_hit_tokens'];
    delete usage['prompt_tokens_details'];
    const extracted = openAiAdapter.extractUsage(CHAT, { ...body, usage });
    assert.equal(extracted.usage.cachedTokens, hit);
    assert.equal(extracted.usage.promptTokens, usage['prompt_tokens']);
  });
});

interface Replay {
  output: Buffer;
  result: StreamResult;
}

function replay(chunks: readonly Buffer[], stripUsageChunk: boolean): Replay {
  const tap = openAiAdapter.createStreamTap(CHAT, { stripUsageChunk });
  const out: Buffer[] = [];
  for (const chunk of chunks) {
    const forwarded = tap.push(chunk);
    if (!stripUsageChunk) assert.equal(forwarded, chunk, 'pass-through returns the very Buffer');
    out.push(forwarded);
  }
  out.push(tap.flush());
  return { output: Buffer.concat(out), result: tap.result() };
}

/**
 * The stream minus its usage-only events (`choices: []` and a non-null top-level usage),
 * computed without the framer; comment lines and chunks with choices are kept whatever they carry.
 */
function withoutUsageOnlyChunks(buf: Buffer, eol: string): Buffer {
  const separator = eol + eol;
  const events = buf.toString('latin1').split(separator);
  assert.equal(events.pop(), '', 'captures end with a blank line');
  const kept = events.filter((event) => {
    if (!event.startsWith('data: {')) return true;
    const chunk = JSON.parse(event.slice('data: '.length)) as { choices?: unknown; usage?: unknown };
    return !(Array.isArray(chunk.choices) && chunk.choices.length === 0 && chunk.usage != null);
  });
  return Buffer.from(kept.map((event) => event + separator).join(''), 'latin1');
}

const LINE_ENDINGS = [
  { name: 'LF', eol: '\n' },
  { name: 'CRLF', eol: '\r\n' },
] as const;

describe('recorded streams', () => {
  for (const c of QUIRK_STREAM_CASES) {
    describe(c.file, () => {
      const original = readQuirkCapture(c.file);
      const seeds = seedsFor(original.length);

      test('replayed whole: counts, cost, details; bytes unchanged', () => {
        const { output, result } = replay([original], false);
        assert.ok(output.equals(original));
        assertQuirkResult(result, c);
        assert.equal(result.completed, true);
        assert.equal(result.errored, false);
      });

      for (const { name, eol } of LINE_ENDINGS) {
        test(`${name}: ${seeds} random splits, plain and stripping: same result, expected bytes`, () => {
          const input = withLineEnding(original, eol);
          const whole = replay([input], false).result;
          assertQuirkResult(whole, c);
          const stripped = withoutUsageOnlyChunks(input, eol);
          assert.equal(stripped.equals(input), !c.usageOnlyChunk, 'only a usage-only chunk is ever removed');
          for (let seed = 1; seed <= seeds; seed += 1) {
            const chunks = splitRandomly(input, createRandom(seed));
            const plain = replay(chunks, false);
            assert.ok(plain.output.equals(input), `seed ${seed}`);
            assert.deepEqual(plain.result, whole, `seed ${seed}`);
            const strip = replay(chunks, true);
            assert.ok(strip.output.equals(stripped), `strip, seed ${seed}`);
            assert.deepEqual(strip.result, whole, `strip, seed ${seed}: the removed chunk is still metered`);
          }
        });
      }

      test('split inside UTF-8 characters: same result', () => {
        const whole = replay([original], false).result;
        const points = utf8Midpoints(original);
        assert.deepEqual(replay(splitAt(original, points), false).result, whole);
        assert.deepEqual(replay(splitAt(original, points), true).result, whole);
      });

      test(`comment lines (${c.comments}) are relayed, also when stripping`, () => {
        const count = (buf: Buffer): number =>
          buf
            .toString('utf8')
            .split('\n')
            .filter((l) => l.startsWith(':')).length;
        assert.equal(count(original), c.comments);
        assert.equal(count(replay(splitRandomly(original, createRandom(7)), true).output), c.comments);
      });
    });
  }
});

/** The top-level `usage` objects of a capture's chunks, in order. */
function usageBlocks(file: string): { prompt_tokens: number; completion_tokens: number }[] {
  return readQuirkCapture(file)
    .toString('utf8')
    .split('\n')
    .filter((line) => line.startsWith('data: {'))
    .map(
      (line) =>
        JSON.parse(line.slice(6)) as { usage?: { prompt_tokens: number; completion_tokens: number } | null },
    )
    .flatMap((chunk) => (chunk.usage == null ? [] : [chunk.usage]));
}

describe('what the captures prove', () => {
  test('Perplexity running totals: the last value wins; a sum would differ', () => {
    const blocks = usageBlocks('perplexity-stream-running-usage.sse');
    assert.ok(blocks.length > 2);
    const last = blocks.at(-1);
    const { result } = replay([readQuirkCapture('perplexity-stream-running-usage.sse')], false);
    assert.equal(result.usage.completionTokens, last?.completion_tokens);
    const summed = blocks.reduce((sum, b) => sum + b.prompt_tokens, 0);
    assert.notEqual(result.usage.promptTokens, summed);
  });

  test('Groq: x_groq.usage and usage carry the same counts in one chunk, counted once', () => {
    const text = readQuirkCapture('groq-stream-xgroq-and-usage.sse').toString('utf8');
    const finish = text
      .split('\n')
      .find((line) => line.includes('"x_groq":{"id":"req_01khrzq88ceeg8s97kbq467yp9","usage"'));
    assert.ok(finish);
    const chunk = JSON.parse(finish.slice(6)) as {
      choices: unknown[];
      usage: { prompt_tokens: number; completion_tokens: number };
      x_groq: { usage: { prompt_tokens: number; completion_tokens: number } };
    };
    assert.equal(chunk.choices.length, 1, 'the usage rides on a chunk with choices');
    assert.equal(chunk.usage.prompt_tokens, chunk.x_groq.usage.prompt_tokens);
    const { result } = replay([Buffer.from(text)], true);
    assert.equal(result.usage.promptTokens, chunk.usage.prompt_tokens);
    assert.equal(result.usage.completionTokens, chunk.usage.completion_tokens);
  });

  test('vLLM continuous_usage_stats shape: running totals then a usage-only chunk (constructed: the Perplexity capture plus one appended chunk)', () => {
    // Not a recording: vLLM adds this chunk after its running totals when include_usage is set.
    const appended =
      'data: {"id":"a3d55d44-63f9-4704-bb26-e17be1ddab3a","object":"chat.completion.chunk","created":1770768237,"model":"sonar","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":434,"total_tokens":445}}\n\n';
    const original = readQuirkCapture('perplexity-stream-running-usage.sse');
    const done = Buffer.from('data: [DONE]\n\n');
    const body = original.subarray(0, original.length - done.length);
    const input = Buffer.concat([body, Buffer.from(appended), done]);
    for (let seed = 1; seed <= 40; seed += 1) {
      const { output, result } = replay(splitRandomly(input, createRandom(seed)), true);
      // Exactly the appended usage-only chunk goes; every content chunk with its usage stays.
      assert.ok(output.equals(original), `seed ${seed}`);
      assert.deepEqual(result.usage, { promptTokens: 11, completionTokens: 434, totalTokens: 445 });
    }
  });
});
