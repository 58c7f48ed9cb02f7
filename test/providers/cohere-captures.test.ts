// Every Cohere capture (test/fixtures/captures/cohere, INDEX.md) replayed whole and split at
// random byte boundaries (fast-check), with the counts INDEX.md says a parser must find.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { RouteMatch, StreamResult } from '../../src/providers/types.js';
import type { TokenUsage } from '../../src/usage.js';
import { cohereAdapter } from '../../src/providers/cohere/index.js';
import { readFamilyCapture } from './family-captures.js';
import { splitAt, withLineEnding } from '../sse/chunking.js';

function route(subPath: string): RouteMatch {
  const match = cohereAdapter.matchRoute('POST', subPath);
  assert.ok(match, `no route for ${subPath}`);
  return match;
}

const JSON_CASES: { file: string; path: string; usage: TokenUsage }[] = [
  {
    // billed 4 / 28; tokens 70 / 28 (the chat template Cohere does not bill) kept apart.
    file: 'cohere-chat-nonstream.json',
    path: '/v2/chat',
    usage: { promptTokens: 4, completionTokens: 28, totalTokens: 32 },
  },
  {
    // cached_tokens 2928 is counted over tokens.input_tokens 2935: capped at the billed 2406.
    file: 'cohere-chat-nonstream-cached.json',
    path: '/v2/chat',
    usage: { promptTokens: 2406, completionTokens: 2, totalTokens: 2408, cachedTokens: 2406 },
  },
  {
    // A reasoning model: billed output 661 (tokens.output_tokens 1257 not billed).
    file: 'cohere-chat-nonstream-thinking.json',
    path: '/v2/chat',
    usage: { promptTokens: 431, completionTokens: 661, totalTokens: 1092 },
  },
  {
    // /v1/embed's answer has the same meta.billed_units as /v2/embed: 2 input tokens.
    file: 'cohere-embed-v1.json',
    path: '/v2/embed',
    usage: { promptTokens: 2, totalTokens: 2 },
  },
  {
    // search_units are not tokens: nothing (and the route is not metered).
    file: 'cohere-rerank-v2.json',
    path: '/v2/rerank',
    usage: {},
  },
];

const STREAM_CASES: { file: string; usage: TokenUsage; text: string }[] = [
  {
    file: 'cohere-chat-stream.sse',
    usage: { promptTokens: 4, completionTokens: 69, totalTokens: 73 },
    text: 'Hi there! You',
  },
  {
    file: 'cohere-chat-stream-toolcall.sse',
    usage: { promptTokens: 23, completionTokens: 41, totalTokens: 64 },
    text: '',
  },
];

describe('non-streamed captures', () => {
  for (const c of JSON_CASES) {
    test(c.file, () => {
      const body = JSON.parse(readFamilyCapture('cohere', c.file).toString('utf8')) as unknown;
      const extracted = cohereAdapter.extractUsage(route(c.path), body);
      // deepEqual is strict: a count the capture lacks must be absent, not 0.
      assert.deepEqual(extracted.usage, c.usage);
    });
  }
  test('rerank is forwarded, never metered', () => {
    assert.equal(route('/v2/rerank').metered, false);
    assert.ok(!cohereAdapter.operations.includes('rerank'));
  });
});

function replay(pieces: readonly Buffer[]): { result: StreamResult; out: Buffer } {
  const tap = cohereAdapter.createStreamTap(route('/v2/chat'), { stripUsageChunk: false });
  const out: Buffer[] = [];
  for (const piece of pieces) out.push(tap.push(piece));
  out.push(tap.flush());
  return { result: tap.result(), out: Buffer.concat(out) };
}

describe('streamed captures', () => {
  for (const c of STREAM_CASES) {
    const bytes = readFamilyCapture('cohere', c.file);
    test(`${c.file}: whole; message-end is the end, the [DONE] after it unread`, () => {
      const { result, out } = replay([bytes]);
      assert.deepEqual(result.usage, c.usage);
      assert.equal(result.completed, true);
      assert.equal(result.errored, false);
      assert.ok(result.generatedText.startsWith(c.text));
      assert.ok(out.equals(bytes), 'bytes relayed unchanged');
    });

    test(`${c.file}: split anywhere (LF and CRLF framing), the same counts and bytes`, () => {
      for (const framed of [bytes, withLineEnding(bytes, '\r\n')])
        fc.assert(
          fc.property(
            fc.array(fc.integer({ min: 1, max: framed.length - 1 }), { maxLength: 80 }),
            (points) => {
              const { result, out } = replay(splitAt(framed, points));
              assert.deepEqual(result.usage, c.usage);
              assert.equal(result.completed, true);
              assert.ok(out.equals(framed));
            },
          ),
          { numRuns: 100 },
        );
    });

    test(`${c.file}: cut before message-end, nothing reported and not completed`, () => {
      const text = bytes.toString('utf8');
      const { result } = replay([Buffer.from(text.slice(0, text.indexOf('event: message-end')))]);
      assert.deepEqual(result.usage, {});
      assert.equal(result.completed, false);
    });
  }
});
