// Every OpenAI / Azure OpenAI capture (../shared/fixtures/captures, see its INDEX.md) replayed
// whole and split at random byte boundaries, with the counts INDEX.md says a parser must find.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProviderAdapter, RouteMatch, StreamResult } from '../../src/providers/types.js';
import { JSON_CASES, STREAM_CASES, type StreamCase } from './openai-capture-cases.js';
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

function route(adapter: ProviderAdapter, subPath: string): RouteMatch {
  const match = adapter.matchRoute('POST', subPath);
  assert.ok(match, `no route for ${subPath}`);
  return match;
}

describe('non-streamed captures', () => {
  for (const c of JSON_CASES) {
    test(c.file, () => {
      const extracted = c.adapter.extractUsage(route(c.adapter, c.subPath), readCaptureJson(c.file));
      // deepEqual is strict: a count the capture lacks must be absent, not 0 and not undefined-valued.
      assert.deepEqual(extracted.usage, c.usage);
      assert.equal(extracted.responseModel, c.model);
    });
  }
});

interface Replay {
  output: Buffer;
  result: StreamResult;
}

function replay(c: StreamCase, chunks: readonly Buffer[], stripUsageChunk: boolean): Replay {
  const tap = c.adapter.createStreamTap(route(c.adapter, c.subPath), { stripUsageChunk });
  const out: Buffer[] = [];
  for (const chunk of chunks) {
    const forwarded = tap.push(chunk);
    // Pass-through must cost nothing: the very Buffer comes back.
    if (!stripUsageChunk) assert.equal(forwarded, chunk);
    out.push(forwarded);
  }
  out.push(tap.flush());
  return { output: Buffer.concat(out), result: tap.result() };
}

/**
 * The stream minus its usage-only events, computed without the framer: split on the blank-line
 * separator and drop the events whose chunk has `choices: []` and a non-null usage.
 */
function withoutUsageChunk(buf: Buffer, eol: string): Buffer {
  const separator = eol + eol;
  const text = buf.toString('latin1');
  const events = text.split(separator);
  const last = events.pop();
  assert.equal(last, '', 'captures end with a blank line');
  const kept = events.filter((event) => {
    const data = event.replace(/^data: /, '');
    if (data === '[DONE]') return true;
    const chunk = JSON.parse(data) as { choices?: unknown; usage?: unknown };
    return !(Array.isArray(chunk.choices) && chunk.choices.length === 0 && chunk.usage != null);
  });
  assert.equal(events.length - kept.length, 1, 'exactly one usage chunk in the capture');
  return Buffer.from(kept.map((event) => event + separator).join(''), 'latin1');
}

const LINE_ENDINGS = [
  { name: 'LF', eol: '\n' },
  { name: 'CRLF', eol: '\r\n' },
  { name: 'CR', eol: '\r' },
] as const;

describe('streamed captures', () => {
  for (const c of STREAM_CASES) {
    describe(c.file, () => {
      const original = readCapture(c.file);

      test('replayed whole: exact counts, bytes unchanged', () => {
        const { output, result } = replay(c, [original], false);
        assert.ok(output.equals(original));
        assert.deepEqual(result.usage, c.usage);
        assert.equal(result.responseModel, c.model);
        assert.equal(result.completed, true);
        assert.equal(result.errored, c.errored);
      });

      for (const { name, eol } of LINE_ENDINGS) {
        test(`${name}: ${SEEDS} random splits give the same result, bytes unchanged`, () => {
          const input = withLineEnding(original, eol);
          const whole = replay(c, [input], false).result;
          assert.deepEqual(whole.usage, c.usage);
          for (let seed = 1; seed <= SEEDS; seed += 1) {
            const { output, result } = replay(c, splitRandomly(input, createRandom(seed)), false);
            assert.ok(output.equals(input), `seed ${seed}`);
            assert.deepEqual(result, whole, `seed ${seed}`);
          }
        });
      }

      test('split between every CR and its LF, one at a time and all at once', () => {
        const input = withLineEnding(original, '\r\n');
        const whole = replay(c, [input], false).result;
        const points = crlfMidpoints(input);
        assert.ok(points.length > 0);
        for (const point of points) assert.deepEqual(replay(c, splitAt(input, [point]), false).result, whole);
        assert.deepEqual(replay(c, splitAt(input, points), false).result, whole);
        assert.deepEqual(replay(c, splitAt(input, points), true).result, whole);
      });

      test('split inside UTF-8 characters keeps the generated text intact', () => {
        const whole = replay(c, [original], false).result;
        const points = utf8Midpoints(original);
        for (const point of points)
          assert.deepEqual(replay(c, splitAt(original, [point]), false).result, whole);
        assert.deepEqual(replay(c, splitAt(original, points), false).result, whole);
        assert.ok(!whole.generatedText.includes('\uFFFD'));
      });

      test('strip mode removes exactly the usage-only chunk', () => {
        for (const { name, eol } of LINE_ENDINGS) {
          const input = withLineEnding(original, eol);
          const expected = c.usageChunk ? withoutUsageChunk(input, eol) : input;
          const whole = replay(c, [input], true);
          assert.ok(whole.output.equals(expected), name);
          assert.deepEqual(whole.result.usage, c.usage, 'the dropped chunk is still metered');
          for (let seed = 1; seed <= SEEDS; seed += 1) {
            const { output, result } = replay(c, splitRandomly(input, createRandom(seed)), true);
            assert.ok(output.equals(expected), `${name} seed ${seed}`);
            assert.deepEqual(result, whole.result, `${name} seed ${seed}`);
          }
        }
      });
    });
  }
});

describe('generated text for estimation', () => {
  test('chat: the concatenated delta contents', () => {
    const c = STREAM_CASES.find((s) => s.file === 'openai-chat-stream-no-usage.sse');
    assert.ok(c);
    const input = readCapture(c.file);
    // Oracle without the framer: every data line of this LF capture is one chunk.
    let expected = '';
    for (const line of input.toString('utf8').split('\n')) {
      if (!line.startsWith('data: {')) continue;
      const chunk = JSON.parse(line.slice(6)) as { choices: { delta: { content?: string } }[] };
      for (const choice of chunk.choices) expected += choice.delta.content ?? '';
    }
    assert.ok(expected.length > 20);
    assert.equal(replay(c, [input], false).result.generatedText, expected);
  });

  test('responses: the output_text deltas equal the final message text', () => {
    const c = STREAM_CASES.find((s) => s.file === 'openai-responses-stream-cached-reasoning.sse');
    assert.ok(c);
    const input = readCapture(c.file);
    const completedLine = input
      .toString('utf8')
      .split('\n')
      .find((line) => line.startsWith('data: {"type":"response.completed"'));
    assert.ok(completedLine);
    const completed = JSON.parse(completedLine.slice(6)) as {
      response: { output: { type: string; content?: { text: string }[] }[] };
    };
    const message = completed.response.output.find((item) => item.type === 'message');
    const text = message?.content?.[0]?.text;
    assert.ok(text !== undefined && text.includes('°F'));
    assert.equal(replay(c, [input], false).result.generatedText, text);
  });
});
