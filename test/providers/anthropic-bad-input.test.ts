// Anthropic streams that do not go to plan: provider errors mid-stream, streams cut short,
// malformed events, arbitrary bytes. The tap must never throw, keep what it could read, and
// forward every byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { anthropicAdapter } from '../../src/providers/anthropic/index.js';
import type { RouteMatch, StreamResult } from '../../src/providers/types.js';
import { USAGE_FIELDS } from '../../src/usage.js';
import { streamOutcomeUsage } from '../../src/gateway/call-meter.js';
import { readCapture } from './captures.js';
import { splitAt } from '../sse/chunking.js';

const MESSAGES: RouteMatch = { operation: 'messages', metered: true, upstreamPath: '/v1/messages' };

function run(chunks: readonly Buffer[]): { output: Buffer; result: StreamResult } {
  const tap = anthropicAdapter.createStreamTap(MESSAGES, { stripUsageChunk: true });
  const out = chunks.map((chunk) => {
    const forwarded = tap.push(chunk);
    // Nothing is ever stripped from an Anthropic stream, even when asked to.
    assert.equal(forwarded, chunk);
    return forwarded;
  });
  out.push(tap.flush());
  return { output: Buffer.concat(out), result: tap.result() };
}

const event = (name: string, data: string): string => `event: ${name}\ndata: ${data}\n\n`;
const START =
  '{"type":"message_start","message":{"model":"claude-x","usage":{"input_tokens":11,"cache_read_input_tokens":100,"output_tokens":1}}}';
const delta = (text: string): string =>
  `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"${text}"}}`;
const OVERLOADED = '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}';

test('an error event mid-stream: errored, not completed, the usage seen so far kept', () => {
  const input = Buffer.from(
    event('message_start', START) +
      event('content_block_delta', delta('Hel')) +
      event('content_block_delta', delta('lo')) +
      event('error', OVERLOADED),
  );
  const { output, result } = run(splitAt(input, [7, 150, 151]));
  assert.ok(output.equals(input));
  assert.equal(result.errored, true);
  assert.equal(result.completed, false);
  assert.deepEqual(result.usage, {
    promptTokens: 111,
    completionTokens: 1,
    totalTokens: 112,
    cachedTokens: 100,
  });
  assert.equal(result.responseModel, 'claude-x');
  assert.equal(result.generatedText, 'Hello');
});

test('a stream cut short keeps what it read: partial usage, the bytes the client got', () => {
  const input = readCapture('anthropic-messages-stream.sse');
  const text = input.toString('latin1');
  const deltaAt = text.indexOf('event: message_delta');
  const stopAt = text.indexOf('event: message_stop');
  const cases = [
    { cut: 30, usage: {} }, // inside message_start
    {
      cut: text.indexOf('event: content_block_start'),
      usage: { promptTokens: 11, completionTokens: 1, totalTokens: 12 },
    },
    { cut: deltaAt + 60, usage: { promptTokens: 11, completionTokens: 1, totalTokens: 12 } }, // inside the delta JSON
    { cut: stopAt - 2, usage: { promptTokens: 11, completionTokens: 6, totalTokens: 17 } }, // JSON complete, no blank line
    { cut: stopAt, usage: { promptTokens: 11, completionTokens: 6, totalTokens: 17 } },
    { cut: input.length - 3, usage: { promptTokens: 11, completionTokens: 6, totalTokens: 17 } }, // inside message_stop
  ];
  for (const { cut, usage } of cases) {
    const { output, result } = run(splitAt(input.subarray(0, cut), [cut - 5, 12]));
    assert.ok(output.equals(input.subarray(0, cut)), `cut ${cut}`);
    assert.deepEqual(result.usage, usage, `cut ${cut}`);
    assert.equal(result.completed, false, `cut ${cut}`);
    assert.equal(result.errored, false, `cut ${cut}`);
  }
  const midText = run([input.subarray(0, text.indexOf('" there"') + 4)]).result;
  assert.equal(midText.generatedText, 'Hello', 'an incomplete delta adds no text');
});

test('result() before flush() already counts a message_delta still held back', () => {
  const tap = anthropicAdapter.createStreamTap(MESSAGES, { stripUsageChunk: false });
  tap.push(Buffer.from(event('message_start', START)));
  tap.push(Buffer.from('event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":9}}'));
  assert.equal(tap.result().usage.completionTokens, 9);
  tap.push(Buffer.from('\n\n'));
  assert.equal(tap.result().usage.completionTokens, 9);
});

test('message_delta replaces each count it carries, cache counts included, and never adds', () => {
  const input = Buffer.from(
    event('message_start', START) +
      event('message_delta', '{"type":"message_delta","usage":{"output_tokens":5}}') +
      event(
        'message_delta',
        '{"type":"message_delta","usage":{"input_tokens":20,"cache_creation_input_tokens":7,"cache_read_input_tokens":null,"output_tokens":8,"output_tokens_details":{"thinking_tokens":3}}}',
      ) +
      event('message_stop', '{"type":"message_stop"}'),
  );
  const { result } = run([input]);
  assert.deepEqual(result.usage, {
    promptTokens: 127, // 20 + 7 + 100: the null cache read keeps the earlier 100
    completionTokens: 8,
    totalTokens: 135,
    cachedTokens: 100,
    cacheWriteTokens: 7,
    reasoningTokens: 3,
  });
  assert.equal(result.completed, true);
});

test('thinking and tool input deltas are generated text; signatures and pings are not', () => {
  const input = Buffer.from(
    event('message_start', START) +
      event('ping', '{"type": "ping"}') +
      event(
        'content_block_delta',
        '{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Hmm. "}}',
      ) +
      event(
        'content_block_delta',
        '{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"c2ln"}}',
      ) +
      event(
        'content_block_delta',
        '{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"a\\":1}"}}',
      ) +
      event('message_stop', '{"type":"message_stop"}'),
  );
  assert.equal(run([input]).result.generatedText, 'Hmm. {"a":1}');
});

test('events without an event: line are read by their JSON type; malformed JSON is ignored', () => {
  const input = Buffer.from(
    `data: ${START}\n\n` +
      'data: {"type":"message_delta","usage":{"output_tokens":\n\n' +
      `data: ${delta('ok')}\n\n` +
      'data: {"type":"message_delta","usage":{"output_tokens":4}}\n\n' +
      'event: message_delta\ndata: not json\n\n' +
      'data: {"type":"message_stop"}\n\n',
  );
  const { output, result } = run([input]);
  assert.ok(output.equals(input));
  assert.deepEqual(result.usage, {
    promptTokens: 111,
    completionTokens: 4,
    totalTokens: 115,
    cachedTokens: 100,
  });
  assert.equal(result.generatedText, 'ok');
  assert.equal(result.completed, true);
});

const dataLine = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc
    .record({
      type: fc.constantFrom('message_start', 'message_delta', 'content_block_delta', 'message_stop', 'error'),
      message: fc.jsonValue(),
      usage: fc.oneof(
        fc.jsonValue(),
        fc.dictionary(fc.constantFrom('input_tokens', 'output_tokens'), fc.jsonValue()),
      ),
      delta: fc.jsonValue(),
    })
    .map((v) => JSON.stringify(v)),
  fc.string(),
);
const eventName = fc.constantFrom(
  'message_start',
  'message_delta',
  'content_block_delta',
  'ping',
  'error',
  '',
);
const anyStream = fc.oneof(
  fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
  fc
    .array(fc.tuple(eventName, dataLine), { maxLength: 6 })
    .map((events) =>
      Buffer.from(
        events.map(([name, data]) => (name === '' ? `data: ${data}\n\n` : event(name, data))).join(''),
      ),
    ),
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

test('property: the tap never throws on arbitrary input, and pass-through is exact', () => {
  fc.assert(
    fc.property(anyStream, fc.array(fc.nat(), { maxLength: 8 }), (input, points) => {
      const { output, result } = run(splitAt(input, points));
      assertCounts(result);
      assert.equal(typeof result.generatedText, 'string');
      assert.ok(output.equals(input));
    }),
    { numRuns: 1500 },
  );
});

test('property: extractUsage never throws on any JSON value', () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.jsonValue(), (body, usage) => {
      assert.doesNotThrow(() => anthropicAdapter.extractUsage(MESSAGES, body));
      const extracted = anthropicAdapter.extractUsage(MESSAGES, { model: 'm', usage });
      assertCounts({ ...extracted, generatedText: '', completed: true, errored: false });
    }),
    { numRuns: 1000 },
  );
});
