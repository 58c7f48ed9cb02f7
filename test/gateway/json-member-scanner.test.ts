// Unit and property tests of the top-level member scanner that reads non-streamed answers with
// bounded memory (issue #7, class 15): wherever the bytes are split, the members it keeps are
// the members JSON.parse finds, and the ones it skips are named with their size.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  createJsonMemberScanner,
  type JsonMemberScannerOptions,
  type ScannedBody,
} from '../../src/gateway/json-member-scanner.js';
import { createJsonAnswerReader, WHOLE_ANSWER_BYTES } from '../../src/gateway/json-answer-reader.js';
import { anthropicAdapter } from '../../src/providers/anthropic/index.js';
import { geminiAdapter } from '../../src/providers/gemini/index.js';
import { openAiAdapter } from '../../src/providers/openai/index.js';
import type { ProviderAdapter, RouteMatch } from '../../src/providers/types.js';
import { createRandom, splitAt, splitRandomly } from '../sse/chunking.js';

function scan(pieces: readonly Buffer[], options?: JsonMemberScannerOptions): ScannedBody | undefined {
  const scanner = createJsonMemberScanner(options);
  for (const piece of pieces) scanner.push(piece);
  return scanner.end();
}

const scanText = (text: string, options?: JsonMemberScannerOptions): ScannedBody | undefined =>
  scan([Buffer.from(text)], options);

/** Every split of `text` into two pieces, and byte by byte. */
function everySplit(text: string): Buffer[][] {
  const bytes = Buffer.from(text);
  const splits: Buffer[][] = [];
  for (let at = 1; at < bytes.length; at++) splits.push(splitAt(bytes, [at]));
  splits.push(
    splitAt(
      bytes,
      Array.from({ length: bytes.length }, (_, i) => i),
    ),
  );
  return splits;
}

describe('json member scanner', () => {
  test('keeps small members and names the skipped ones with their byte size', () => {
    const big = 'x'.repeat(200);
    const text = `{"id":"a", "choices" : [{"text":"${big}"}],"usage":{"prompt_tokens":3},"n":-1.5e3,"ok":true,"z":null}`;
    for (const pieces of everySplit(text)) {
      const scanned = scan(pieces, { maxMemberBytes: 100 });
      assert.deepEqual(scanned?.value, { id: 'a', usage: { prompt_tokens: 3 }, n: -1500, ok: true, z: null });
      assert.deepEqual(
        [...(scanned?.skipped ?? [])],
        [['choices', `"choices" : [{"text":"${big}"}]`.length]],
      );
    }
  });

  test('escapes: quotes and backslash runs inside strings, split anywhere', () => {
    const text = String.raw`{"k\"ey":"a\\","b":"\\\"}","c\\":["\"]",{"d":"\\\\"}],"e":"é😀\u2028"}`;
    const expected = JSON.parse(text) as unknown;
    for (const pieces of everySplit(text)) assert.deepEqual(scan(pieces)?.value, expected);
  });

  test('what JSON.parse makes of duplicates and __proto__: the last duplicate wins, even when skipped', () => {
    const text = '{"__proto__":{"x":1},"usage":{"a":1},"usage":"' + 'y'.repeat(50) + '"}';
    const scanned = scanText(text, { maxMemberBytes: 30 });
    assert.ok(scanned !== undefined);
    const value = scanned.value as Record<string, unknown>;
    assert.deepEqual(Object.getOwnPropertyDescriptor(value, '__proto__')?.value, { x: 1 });
    assert.equal(Object.hasOwn(value, 'usage'), false);
    assert.ok(scanned.skipped.has('usage'));
  });

  test('members are kept within the total bound, in order', () => {
    const text = '{"a":"1234567890","b":"1234567890","c":"1234567890","usage":{"t":1}}';
    const scanned = scanText(text, { maxKeptBytes: 40 });
    assert.deepEqual(Object.keys(scanned?.value as object), ['a', 'b']);
    assert.deepEqual([...(scanned?.skipped.keys() ?? [])], ['c', 'usage']);
  });

  test('bodies that are not one well-formed object: no value; small non-objects parsed whole', () => {
    for (const bad of [
      '',
      '   ',
      '{',
      '{"a":1',
      '{"a":1,}',
      '{"a" 1}',
      '{"a":1}x',
      '{"a":1}{}',
      '{,"a":1}',
      '{"a":}',
    ]) {
      assert.equal(scanText(bad), undefined, JSON.stringify(bad));
    }
    assert.deepEqual(scanText('[1,{"a":2}]')?.value, [1, { a: 2 }]);
    assert.equal(scanText(' "text" ')?.value, 'text');
    assert.equal(scanText(`[${'1,'.repeat(100)}1]`, { maxMemberBytes: 50 }), undefined);
    assert.deepEqual(scanText(' {} \r\n')?.value, {});
  });
});

/** Characters that trip naive scanners: structure inside strings, escapes, multi-byte UTF-8. */
const TRICKY = fc.constantFrom('a', ' ', '"', '\\', ']', '[', '}', '{', ',', ':', '\n', 'é', '😀', '\\"');
const trickyString = fc.string({ unit: TRICKY, maxLength: 12 });
const body = fc.object({
  key: trickyString,
  values: [
    trickyString,
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
  ],
  maxDepth: 3,
  maxKeys: 6,
});

test('property: split anywhere, kept members equal JSON.parse, every other member is skipped', () => {
  fc.assert(
    fc.property(
      body,
      fc.constantFrom(undefined, 2, '\t'),
      fc.integer({ min: 4, max: 400 }),
      fc.integer(),
      (object, indent, maxMemberBytes, seed) => {
        const text = JSON.stringify(object, null, indent);
        const bytes = Buffer.from(text);
        const parsed = JSON.parse(text) as Record<string, unknown>;
        const whole = scan([bytes], { maxMemberBytes });
        const split = scan(splitRandomly(bytes, createRandom(seed)), { maxMemberBytes });
        assert.ok(whole !== undefined && split !== undefined);
        assert.deepEqual(split.value, whole.value);
        assert.deepEqual([...split.skipped], [...whole.skipped]);
        const kept = whole.value as Record<string, unknown>;
        for (const key of Object.keys(parsed)) {
          if (Object.hasOwn(kept, key)) assert.deepEqual(kept[key], parsed[key]);
          else assert.ok(whole.skipped.has(key), `member ${JSON.stringify(key)} neither kept nor skipped`);
        }
        for (const key of Object.keys(kept)) assert.ok(Object.hasOwn(parsed, key));
        // With room for everything, the scan is JSON.parse.
        assert.deepEqual(scan(splitRandomly(bytes, createRandom(seed + 1)))?.value, parsed);
      },
    ),
    { numRuns: 400 },
  );
});

test('property: a body cut short never yields a value', () => {
  fc.assert(
    fc.property(body, fc.integer(), (object, seed) => {
      const bytes = Buffer.from(JSON.stringify(object));
      const cut = 1 + Math.floor(createRandom(seed)() * (bytes.length - 1));
      assert.equal(scan(splitRandomly(bytes.subarray(0, cut), createRandom(seed))), undefined);
    }),
    { numRuns: 200 },
  );
});

const route = (adapter: ProviderAdapter, method: string, path: string): RouteMatch => {
  const match = adapter.matchRoute(method, path);
  assert.ok(match !== undefined);
  return match;
};

/** Feeds `text` to a reader in 64 KiB chunks, as undici hands them over. */
function read(
  adapter: ProviderAdapter,
  r: RouteMatch,
  text: string,
): ReturnType<ReturnType<typeof createJsonAnswerReader>['result']> {
  const reader = createJsonAnswerReader(adapter, r);
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.length; at += 65_536) reader.push(bytes.subarray(at, at + 65_536));
  return reader.result();
}

describe('json answer reader', () => {
  const huge = 'word '.repeat(WHOLE_ANSWER_BYTES); // 5 × the whole-answer size, far above the member bound

  test('a huge answer: usage and model read, the huge member skipped (openai, anthropic, gemini)', () => {
    const chat = route(openAiAdapter, 'POST', '/chat/completions');
    assert.deepEqual(
      read(
        openAiAdapter,
        chat,
        `{"id":"c","model":"gpt-4o","choices":[{"message":{"content":"${huge}"}}],"usage":{"prompt_tokens":5,"completion_tokens":7}}`,
      ),
      { usage: { promptTokens: 5, completionTokens: 7 }, responseModel: 'gpt-4o' },
    );
    const messages = route(anthropicAdapter, 'POST', '/v1/messages');
    assert.deepEqual(
      read(
        anthropicAdapter,
        messages,
        `{"model":"claude","content":[{"type":"text","text":"${huge}"}],"usage":{"input_tokens":5,"output_tokens":7}}`,
      )?.usage,
      { promptTokens: 5, completionTokens: 7, totalTokens: 12 },
    );
    const generate = route(geminiAdapter, 'POST', '/v1beta/models/g:generateContent');
    assert.deepEqual(
      read(
        geminiAdapter,
        generate,
        `{"candidates":[{"content":{"parts":[{"text":"${huge}"}]}}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":7,"totalTokenCount":12}}`,
      )?.usage,
      { promptTokens: 5, completionTokens: 7, totalTokens: 12 },
    );
  });

  test('a huge answer without usage: the skipped output is counted in bytes for the estimate', () => {
    const chat = route(openAiAdapter, 'POST', '/chat/completions');
    const choices = `[{"message":{"content":"${huge}"}}]`;
    const extracted = read(openAiAdapter, chat, `{"id":"c","choices":${choices}}`);
    assert.equal(extracted?.generatedText, '');
    assert.equal(extracted?.unreadOutputBytes, `"choices":${choices}`.length);
    // Embeddings data is not output: nothing is counted for it.
    const embeddings = route(openAiAdapter, 'POST', '/embeddings');
    const data = `[{"embedding":[${'0.125,'.repeat(WHOLE_ANSWER_BYTES / 2)}0]}]`;
    const none = read(openAiAdapter, embeddings, `{"object":"list","data":${data}}`);
    assert.deepEqual(none, { usage: {}, generatedText: '' });
  });

  test('a small answer is parsed whole; a malformed or empty one yields nothing', () => {
    const chat = route(openAiAdapter, 'POST', '/chat/completions');
    assert.deepEqual(
      read(openAiAdapter, chat, '{"usage":{"prompt_tokens":1,"completion_tokens":2}}')?.usage,
      {
        promptTokens: 1,
        completionTokens: 2,
      },
    );
    assert.equal(read(openAiAdapter, chat, '{"usage":'), undefined);
    assert.equal(read(openAiAdapter, chat, ''), undefined);
    assert.equal(read(openAiAdapter, chat, `{"choices":"${huge}"`), undefined);
  });
});
