// Every Anthropic capture (../shared/fixtures/captures, INDEX.md section 6) replayed whole and
// split at random byte boundaries, with the counts INDEX.md says a parser must find.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { anthropicAdapter } from '../../src/providers/anthropic/index.js';
import type { RouteMatch, StreamResult } from '../../src/providers/types.js';
import type { TokenUsage } from '../../src/usage.js';
import { readCapture, readCaptureJson } from './captures.js';
import {
  createRandom,
  crlfMidpoints,
  splitAt,
  splitRandomly,
  utf8Midpoints,
  withLineEnding,
} from '../sse/chunking.js';

const SEEDS = 150;

function messagesRoute(): RouteMatch {
  const match = anthropicAdapter.matchRoute('POST', '/v1/messages');
  assert.ok(match);
  return match;
}

test('anthropic-messages-nonstream-cache.json: prompt = 3 + 418 + 1111, cache read and write apart', () => {
  const extracted = anthropicAdapter.extractUsage(
    messagesRoute(),
    readCaptureJson('anthropic-messages-nonstream-cache.json'),
  );
  // deepEqual is strict: thinking is absent in the capture, so reasoningTokens must be absent.
  assert.deepEqual(extracted.usage, {
    promptTokens: 1532,
    completionTokens: 33,
    totalTokens: 1565,
    cachedTokens: 1111,
    cacheWriteTokens: 418,
  });
  assert.equal(extracted.responseModel, 'claude-sonnet-4-5-20250929');
});

interface StreamCase {
  file: string;
  usage: TokenUsage;
  model: string;
  text: string;
}

const STREAM_CASES: StreamCase[] = [
  {
    file: 'anthropic-messages-stream.sse',
    // message_start says output 1, message_delta says 6: the later value replaces it (6, not 7).
    usage: { promptTokens: 11, completionTokens: 6, totalTokens: 17 },
    model: 'claude-3-opus-latest',
    text: 'Hello there!',
  },
  {
    file: 'anthropic-messages-stream-tooluse.sse',
    usage: {
      promptTokens: 377,
      completionTokens: 65,
      totalTokens: 442,
      cachedTokens: 0,
      cacheWriteTokens: 0,
    },
    model: 'claude-sonnet-4-20250514',
    text: `I'll check the current weather in Paris for you.{"location": "Paris"}`,
  },
];

interface Replay {
  output: Buffer;
  result: StreamResult;
}

function replay(chunks: readonly Buffer[]): Replay {
  const tap = anthropicAdapter.createStreamTap(messagesRoute(), { stripUsageChunk: false });
  const out: Buffer[] = [];
  for (const chunk of chunks) {
    // Complete only once message_stop is in: the last push may bring it, never an earlier one.
    assert.equal(tap.isComplete?.(), false);
    const forwarded = tap.push(chunk);
    // Pass-through must cost nothing: the very Buffer comes back.
    assert.equal(forwarded, chunk);
    out.push(forwarded);
  }
  out.push(tap.flush());
  const result = tap.result();
  assert.equal(tap.isComplete?.(), result.completed);
  return { output: Buffer.concat(out), result };
}

/** The result with its lazy generatedText read, so deepEqual compares it too. */
function settled(result: StreamResult): StreamResult & { text: string } {
  return { ...result, text: result.generatedText };
}

const LINE_ENDINGS = ['\n', '\r\n', '\r'] as const;

describe('streamed captures', () => {
  for (const c of STREAM_CASES) {
    describe(c.file, () => {
      const original = readCapture(c.file);

      test('replayed whole: exact counts, model, text, bytes unchanged', () => {
        const { output, result } = replay([original]);
        assert.ok(output.equals(original));
        assert.deepEqual(result.usage, c.usage);
        assert.equal(result.responseModel, c.model);
        assert.equal(result.completed, true);
        assert.equal(result.errored, false);
        assert.equal(result.generatedText, c.text);
      });

      for (const eol of LINE_ENDINGS) {
        test(`${JSON.stringify(eol)}: ${SEEDS} random splits give the same result, bytes unchanged`, () => {
          const input = withLineEnding(original, eol);
          const whole = settled(replay([input]).result);
          assert.deepEqual(whole.usage, c.usage);
          assert.equal(whole.text, c.text);
          for (let seed = 1; seed <= SEEDS; seed += 1) {
            const { output, result } = replay(splitRandomly(input, createRandom(seed)));
            assert.ok(output.equals(input), `seed ${seed}`);
            assert.deepEqual(settled(result), whole, `seed ${seed}`);
          }
        });
      }

      test('split between every CR and its LF, one at a time and all at once', () => {
        const input = withLineEnding(original, '\r\n');
        const whole = settled(replay([input]).result);
        const points = crlfMidpoints(input);
        assert.ok(points.length > 0);
        for (const point of points) assert.deepEqual(settled(replay(splitAt(input, [point])).result), whole);
        assert.deepEqual(settled(replay(splitAt(input, points)).result), whole);
      });

      test('split at every single byte', () => {
        const whole = settled(replay([original]).result);
        const points = Array.from({ length: original.length }, (_, i) => i);
        assert.deepEqual(settled(replay(splitAt(original, points)).result), whole);
      });
    });
  }

  test('split inside UTF-8 characters keeps the generated text intact', () => {
    const text = 'Grüße, 東京 🌍!';
    const input = Buffer.from(
      'event: message_start\ndata: {"type":"message_start","message":{"model":"claude-x","usage":{"input_tokens":5,"output_tokens":1}}}\n\n' +
        `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"${text}"}}\n\n` +
        'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":9}}\n\n' +
        'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    );
    const points = utf8Midpoints(input);
    assert.ok(points.length > 5);
    for (const point of points) {
      const { result } = replay(splitAt(input, [point]));
      assert.equal(result.generatedText, text);
      assert.deepEqual(result.usage, { promptTokens: 5, completionTokens: 9, totalTokens: 14 });
    }
    assert.equal(replay(splitAt(input, points)).result.generatedText, text);
  });
});
