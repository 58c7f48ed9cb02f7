// Bad upstream input: malformed JSON, streams cut short, oversized events, arbitrary bytes.
// The tap must never throw, keep what it could read, and forward every byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { RouteMatch, StreamResult, StreamTap } from '../../src/providers/types.js';
import { USAGE_FIELDS } from '../../src/usage.js';
import { streamOutcomeUsage } from '../../src/gateway/call-meter.js';
import { openAiAdapter } from '../../src/providers/openai/index.js';
import { readCapture } from './captures.js';
import { splitAt } from '../sse/chunking.js';

function route(subPath: string): RouteMatch {
  const match = openAiAdapter.matchRoute('POST', subPath);
  assert.ok(match);
  return match;
}

const CHAT = route('/chat/completions');
const RESPONSES = route('/responses');

function run(
  match: RouteMatch,
  chunks: readonly Buffer[],
  stripUsageChunk: boolean,
): { output: Buffer; result: StreamResult } {
  const tap: StreamTap = openAiAdapter.createStreamTap(match, { stripUsageChunk });
  const out = chunks.map((chunk) => tap.push(chunk));
  out.push(tap.flush());
  return { output: Buffer.concat(out), result: tap.result() };
}

const sse = (...datas: string[]): Buffer => Buffer.from(datas.map((d) => `data: ${d}\n\n`).join(''));
const USAGE_CHUNK = '{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}';

test('invalid JSON in a data line is ignored; later usage is still read', () => {
  const input = sse(
    '{"choices":[{"delta":{"content":"Hi"}}]',
    'not json',
    '{"choices":[{"delta":{"content":"!"}}]}',
    USAGE_CHUNK,
    '[DONE]',
  );
  const { output, result } = run(CHAT, [input], true);
  assert.deepEqual(result.usage, { promptTokens: 3, completionTokens: 4, totalTokens: 7 });
  assert.equal(result.generatedText, '!');
  assert.equal(result.completed, true);
  assert.equal(output.toString(), input.toString().replace(`data: ${USAGE_CHUNK}\n\n`, ''));
});

test('usage is taken wherever it is, not only from the last chunk', () => {
  const late = '{"choices":[{"index":0,"delta":{"content":"x"}}]}';
  const { output, result } = run(CHAT, [sse(USAGE_CHUNK, late, '[DONE]')], true);
  assert.equal(result.usage.totalTokens, 7);
  assert.equal(output.toString(), sse(late, '[DONE]').toString());
});

test("Azure's prompt_filter_results chunk (choices [] without usage) is kept, not read as usage", () => {
  const filter = '{"choices":[],"created":0,"id":"","model":"","prompt_filter_results":[{"prompt_index":0}]}';
  const input = sse(filter, '[DONE]');
  const { output, result } = run(CHAT, [input], true);
  assert.ok(output.equals(input));
  assert.deepEqual(result.usage, {});
  assert.equal(result.responseModel, undefined);
});

test('an error chunk inside a chat stream marks it errored', () => {
  const { result } = run(CHAT, [sse('{"error":{"message":"boom","type":"server_error"}}')], false);
  assert.equal(result.errored, true);
  assert.equal(result.completed, false);
});

test('a chat stream cut short keeps the usage seen so far and is not completed', () => {
  const input = readCapture('openai-chat-stream-usage.sse');
  const text = input.toString('latin1');
  const usageStart = text.indexOf('data: {', text.indexOf('"finish_reason":"length"'));
  const doneStart = text.indexOf('data: [DONE]');
  const cases = [
    { cut: doneStart, usage: true }, // after the usage event
    { cut: doneStart - 1, usage: true }, // its blank line not yet complete: read as an incomplete event
    { cut: doneStart - 2, usage: true }, // JSON complete, no line break yet
    { cut: usageStart + 40, usage: false }, // inside the usage JSON
    { cut: usageStart, usage: false },
  ];
  for (const { cut, usage } of cases) {
    for (const strip of [false, true]) {
      const { output, result } = run(CHAT, splitAt(input.subarray(0, cut), [cut - 3, 10]), strip);
      assert.equal(result.completed, false, `cut ${cut}`);
      assert.equal(result.usage.totalTokens, usage ? 112 : undefined, `cut ${cut}`);
      if (!strip) assert.ok(output.equals(input.subarray(0, cut)));
    }
  }
});

test('result() before flush() already counts a usage event still held back', () => {
  const tap = openAiAdapter.createStreamTap(CHAT, { stripUsageChunk: true });
  assert.equal(tap.push(Buffer.from(`data: ${USAGE_CHUNK}\n`)).length, 0);
  assert.equal(tap.result().usage.totalTokens, 7);
  assert.equal(tap.push(Buffer.from('\n')).length, 0);
  assert.equal(tap.result().usage.totalTokens, 7);
});

test('a responses stream cut before response.completed has text but no usage', () => {
  const input = readCapture('openai-responses-stream-cached-reasoning.sse');
  const cut = input.indexOf('event: response.completed') + 60;
  const { output, result } = run(RESPONSES, [input.subarray(0, cut)], false);
  assert.ok(output.equals(input.subarray(0, cut)));
  assert.deepEqual(result.usage, {});
  assert.equal(result.completed, false);
  assert.ok(result.generatedText.startsWith('San Francisco weather today'));
});

test('response.incomplete ends the stream and carries usage; error events mark it errored', () => {
  const incomplete = Buffer.from(
    'event: response.incomplete\ndata: {"type":"response.incomplete","response":{"model":"gpt-5","status":"incomplete",' +
      '"usage":{"input_tokens":10,"output_tokens":20,"total_tokens":30,"input_tokens_details":{"cached_tokens":0},' +
      '"output_tokens_details":{"reasoning_tokens":20}}}}\n\n',
  );
  const { result } = run(RESPONSES, [incomplete], false);
  assert.deepEqual(result.usage, {
    promptTokens: 10,
    completionTokens: 20,
    totalTokens: 30,
    cachedTokens: 0,
    reasoningTokens: 20,
  });
  assert.equal(result.completed, true);
  assert.equal(result.errored, false);
  const failed = run(RESPONSES, [readCapture('openai-responses-stream-failed-no-usage.sse')], true);
  assert.equal(failed.result.errored, true);
  assert.deepEqual(failed.result.usage, {});
});

test('an event over maxEventBytes: forwarded unread, the usage after it read and stripped', () => {
  const huge = `{"choices":[{"delta":{"content":"${'a'.repeat(1024 * 1024)}"}}]}`;
  const input = sse('{"choices":[{"delta":{"content":"ok"}}]}', huge, USAGE_CHUNK, '[DONE]');
  const chunks = splitAt(input, [100, 500_000, 1_000_000, input.length - 50]);
  for (const strip of [false, true]) {
    const tap = openAiAdapter.createStreamTap(CHAT, { stripUsageChunk: strip, maxEventBytes: 64 * 1024 });
    const out = Buffer.concat([...chunks.map((chunk) => tap.push(chunk)), tap.flush()]);
    const result = tap.result();
    const expected = strip ? input.toString().replace(`data: ${USAGE_CHUNK}\n\n`, '') : input.toString();
    assert.ok(out.equals(Buffer.from(expected)));
    assert.equal(result.completed, true);
    assert.equal(result.eventTooLarge, true);
    assert.equal(result.usage.totalTokens, 7);
    assert.equal(result.generatedText, 'ok');
  }
});

const dataLine = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc
    .record({ choices: fc.array(fc.jsonValue(), { maxLength: 2 }), usage: fc.jsonValue() })
    .map((v) => JSON.stringify(v)),
  fc
    .record({
      type: fc.constantFrom('response.completed', 'error', 'response.output_text.delta'),
      response: fc.jsonValue(),
      delta: fc.jsonValue(),
    })
    .map((v) => JSON.stringify(v)),
  fc.string(),
);
const anyStream = fc.oneof(
  fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
  fc.array(dataLine, { maxLength: 6 }).map((lines) => sse(...lines)),
);

/**
 * A reader's counts are sane or the INVALID_COUNT marker (NaN, for an absurd value on the wire);
 * after the call meter's screen, what would be billed is always sane.
 */
function assertCounts(result: StreamResult): void {
  for (const key of USAGE_FIELDS) {
    const count = result.usage[key];
    assert.ok(count === undefined || Number.isNaN(count) || (Number.isInteger(count) && count >= 0), key);
  }
  const billed = streamOutcomeUsage(result, 200, false, () => '').usage;
  for (const key of USAGE_FIELDS) {
    const count = billed[key];
    assert.ok(count === undefined || (Number.isSafeInteger(count) && count >= 0), `billed ${key}`);
  }
}

test('property: the taps never throw on arbitrary input, and pass-through is exact', () => {
  fc.assert(
    fc.property(anyStream, fc.array(fc.nat(), { maxLength: 8 }), fc.boolean(), (input, points, strip) => {
      for (const match of [CHAT, RESPONSES]) {
        const { output, result } = run(match, splitAt(input, points), strip);
        assertCounts(result);
        if (!strip || match === RESPONSES) assert.ok(output.equals(input));
        else assert.ok(output.length <= input.length);
      }
    }),
    { numRuns: 1500 },
  );
});

test('property: extractUsage never throws on any JSON value', () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.jsonValue(), (body, usage) => {
      for (const match of [CHAT, RESPONSES]) {
        const withUsage = { model: 'm', usage };
        assert.doesNotThrow(() => openAiAdapter.extractUsage(match, body));
        const extracted = openAiAdapter.extractUsage(match, withUsage);
        assertCounts({ ...extracted, generatedText: '', completed: true, errored: false });
      }
    }),
    { numRuns: 1000 },
  );
});

test('text chunks are read lazily, yet a chunk whose content spells "usage":{ is not taken for usage', () => {
  const first = '{"model":"gpt-4o","choices":[{"delta":{"content":"A"}}]}';
  const tricky =
    '{"model":"gpt-4o","choices":[{"delta":{"content":"x\\",\\"usage\\":{\\"total_tokens\\":99}"}}]}';
  const usageLater =
    '{"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}';
  const { result } = run(CHAT, [sse(first, tricky, usageLater, '[DONE]')], false);
  assert.equal(result.usage.totalTokens, 7);
  assert.equal(result.generatedText, 'Ax","usage":{"total_tokens":99}');
  const noUsage = run(CHAT, [sse(first, tricky, '[DONE]')], false).result;
  assert.deepEqual(noUsage.usage, {}, 'content text never becomes usage');
  assert.equal(noUsage.responseModel, 'gpt-4o');
});

test('an error object in a later chunk is still seen on the fast path', () => {
  const first = '{"model":"gpt-4o","choices":[{"delta":{"content":"A"}}]}';
  const failed = '{"error":{"message":"overloaded","type":"server_error"}}';
  assert.equal(run(CHAT, [sse(first, failed)], false).result.errored, true);
});

test('a long stream without usage is estimated from all its text, in order, the model read from its chunks', () => {
  // Far more bytes than the tap's log starts with, in chunks split anywhere.
  const words = Array.from({ length: 400 }, (_, i) => `w${i} `);
  const datas = words.map((w) =>
    JSON.stringify({ model: 'gpt-x-2025', choices: [{ delta: { content: w } }] }),
  );
  // A chunk that must be parsed (it has an error object) carries text too: it keeps its place.
  datas.splice(200, 0, '{"choices":[{"delta":{"content":"<mid> "}}],"error":{"message":"warn"}}');
  const input = sse(...datas, '[DONE]');
  const chunks = splitAt(input, [7, 500, 4095, 4096, 9000, input.length - 3]);
  const { output, result } = run(CHAT, chunks, true);
  const expected = [...words.slice(0, 200), '<mid> ', ...words.slice(200)].join('');
  assert.equal(result.generatedText, expected);
  assert.equal(result.responseModel, 'gpt-x-2025');
  assert.deepEqual(result.usage, {});
  assert.equal(output.toString(), input.toString());
});

test('a stream cut mid-event keeps the text of its last, incomplete chunk', () => {
  const input = sse('{"choices":[{"delta":{"content":"Hello"}}]}');
  const cut = Buffer.concat([input, Buffer.from('data: {"choices":[{"delta":{"content":" wor"}}]}')]);
  const tap = openAiAdapter.createStreamTap(CHAT, { stripUsageChunk: false });
  tap.push(cut);
  assert.equal(tap.result().generatedText, 'Hello wor');
  tap.flush();
  assert.equal(tap.result().generatedText, 'Hello wor');
  assert.equal(tap.result().completed, false);
});
