// Bad input for the Bedrock adapter: corrupt and truncated frames, exception events, garbage,
// absurd counts, billed counts that disagree with the model's, guardrail units, huge events.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bedrockAdapter } from '../../src/providers/bedrock/index.js';
import type { RouteMatch, StreamResult, StreamTapOptions } from '../../src/providers/types.js';
import { invalidUsageFields } from '../../src/usage.js';
import { chunkMessage, converseStream, eventMessage, exceptionMessage } from './bedrock-event-stream.js';
import { splitAt } from '../sse/chunking.js';

function route(action: string): RouteMatch {
  const match = bedrockAdapter.matchRoute(
    'POST',
    `/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/${action}`,
  );
  assert.ok(match);
  return match;
}

function run(
  action: string,
  chunks: readonly Buffer[],
  options: Partial<StreamTapOptions> = {},
): StreamResult {
  const tap = bedrockAdapter.createStreamTap(route(action), { stripUsageChunk: false, ...options });
  for (const chunk of chunks) assert.equal(tap.push(chunk), chunk);
  assert.equal(tap.flush().length, 0);
  return tap.result();
}

const USAGE = { inputTokens: 20, outputTokens: 7, totalTokens: 27 };
const GOOD = converseStream('Hello there', USAGE);

describe('corrupt frames', () => {
  test('a flipped payload byte fails the message CRC: reading stops, nothing counted, not completed', () => {
    const bad = Buffer.from(GOOD);
    // The last message (metadata) is corrupted in its payload: its usage must not be read.
    bad[bad.length - 10] = (bad[bad.length - 10] ?? 0) ^ 0xff;
    const result = run('converse-stream', [bad]);
    assert.deepEqual(result.usage, {});
    assert.equal(result.completed, false);
    assert.equal(result.errored, false);
  });

  test('a text delta failing its CRC (deltas are kept unread) stops the reading all the same', () => {
    const delta = eventMessage('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Hello there' } });
    const bad = Buffer.from(delta);
    bad[bad.length - 8] = (bad[bad.length - 8] ?? 0) ^ 0x01;
    const result = run('converse-stream', [eventMessage('messageStart', { role: 'assistant' }), bad, GOOD]);
    assert.deepEqual(result.usage, {});
    assert.equal(result.completed, false);
    assert.equal(result.generatedText, '');
  });

  test('a flipped prelude byte fails the prelude CRC at once: later good frames are not read', () => {
    const first = eventMessage('messageStart', { role: 'assistant' });
    const corrupt = Buffer.from(first);
    corrupt[3] = (corrupt[3] ?? 0) ^ 0x01; // the total length
    const result = run('converse-stream', [corrupt, GOOD]);
    assert.deepEqual(result.usage, {});
    assert.equal(result.completed, false);
  });

  test('a prelude announcing a huge length is refused by its CRC, not waited for', () => {
    const bytes = Buffer.alloc(12);
    bytes.writeUInt32BE(0x7fffffff, 0);
    bytes.writeUInt32BE(0, 4);
    bytes.writeUInt32BE(0, 8); // wrong CRC
    const result = run('converse-stream', [bytes, GOOD]);
    assert.deepEqual(result.usage, {});
    assert.equal(result.completed, false);
  });

  test('garbage bytes (JSON, SSE text, random) never throw and never count', () => {
    for (const garbage of [
      '{"usage":{"inputTokens":5}}',
      'data: {"usage":{}}\n\n',
      '\u0000\u0000\u0000\u0010garbage!!',
    ]) {
      const result = run('converse-stream', [Buffer.from(garbage)]);
      assert.deepEqual(result.usage, {});
      assert.equal(result.completed, false);
    }
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.array(fc.nat({ max: 300 }), { maxLength: 8 }),
        (bytes, cuts) => {
          const input = Buffer.from(bytes);
          const points = [...new Set(cuts.filter((c) => c <= input.length))].sort((a, b) => a - b);
          const result = run('converse-stream', splitAt(input, points));
          // Random bytes essentially never carry two valid CRCs.
          assert.equal(result.completed, false);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('good frames, then garbage: the good ones count once, the garbage stops the reading', () => {
    const result = run('converse-stream', [GOOD.subarray(0, GOOD.length), Buffer.from('not a frame at all')]);
    assert.deepEqual(result.usage, { promptTokens: 20, completionTokens: 7, totalTokens: 27 });
    assert.equal(result.completed, true);
  });
});

describe('truncated streams', () => {
  test('cut mid-frame at every byte: never completed, never errored, usage only from whole frames', () => {
    for (let cut = 0; cut < GOOD.length; cut += 1) {
      const result = run('converse-stream', [GOOD.subarray(0, cut)]);
      assert.equal(result.completed, false, `cut ${cut}`);
      assert.equal(result.errored, false, `cut ${cut}`);
      assert.deepEqual(result.usage, {}, `cut ${cut}`);
    }
  });

  test('an invoke stream cut before the invocation metrics keeps the model counts read so far', () => {
    const stream = Buffer.concat([
      chunkMessage({
        type: 'message_start',
        message: { model: 'claude-x', usage: { input_tokens: 30, output_tokens: 1 } },
      }),
      chunkMessage({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } }),
      chunkMessage({ type: 'message_delta', usage: { output_tokens: 9 } }),
    ]);
    const result = run('invoke-with-response-stream', [stream]);
    assert.deepEqual(result.usage, { promptTokens: 30, completionTokens: 9, totalTokens: 39 });
    assert.equal(result.completed, false);
    assert.equal(result.generatedText, 'Hi');
  });
});

describe('exception events', () => {
  for (const type of [
    'throttlingException',
    'modelStreamErrorException',
    'internalServerException',
    'validationException',
  ]) {
    test(`${type} mid-stream: errored, not completed, counts read before it kept`, () => {
      const stream = Buffer.concat([
        eventMessage('messageStart', { role: 'assistant' }),
        eventMessage('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'partial' } }),
        exceptionMessage(type, 'Too many tokens, please wait before trying again.'),
      ]);
      const result = run('converse-stream', [stream]);
      assert.equal(result.errored, true);
      assert.equal(result.completed, false);
      assert.deepEqual(result.usage, {});
    });
  }

  test('an exception in an invoke stream after the model counts: errored, counts kept', () => {
    const stream = Buffer.concat([
      chunkMessage({ type: 'message_start', message: { usage: { input_tokens: 12, output_tokens: 1 } } }),
      exceptionMessage('modelStreamErrorException', 'boom'),
    ]);
    const result = run('invoke-with-response-stream', [stream]);
    assert.equal(result.errored, true);
    assert.deepEqual(result.usage, { promptTokens: 12, completionTokens: 1, totalTokens: 13 });
  });

  test('an Anthropic error event inside a chunk is an error too', () => {
    const result = run('invoke-with-response-stream', [
      chunkMessage({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }),
    ]);
    assert.equal(result.errored, true);
  });
});

describe('absurd counts', () => {
  test('negative, fractional or huge counts in metadata arrive as INVALID_COUNT for the core to screen', () => {
    for (const usage of [
      { inputTokens: -5, outputTokens: 7, totalTokens: 2 },
      { inputTokens: 1.5, outputTokens: 7 },
      { inputTokens: 5, outputTokens: 1e12 },
      { inputTokens: '5', outputTokens: 7 },
    ]) {
      const result = run('converse-stream', [converseStream('x', usage)]);
      assert.ok(invalidUsageFields(result.usage).length > 0, JSON.stringify(usage));
    }
  });

  test('absurd billed headers are invalid too, and the body text is kept for estimation', () => {
    const extracted = bedrockAdapter.extractUsage(
      route('invoke'),
      { content: [{ type: 'text', text: 'Hello' }], usage: { input_tokens: 3, output_tokens: 2 } },
      { 'x-amzn-bedrock-input-token-count': '-1', 'x-amzn-bedrock-output-token-count': '2' },
    );
    assert.ok(invalidUsageFields(extracted.usage).length > 0);
    assert.equal(extracted.generatedText, 'Hello');
    for (const bad of ['1e3', '12abc', '99999999999999999999', '']) {
      const usage = bedrockAdapter.extractUsage(
        route('invoke'),
        {},
        { 'x-amzn-bedrock-input-token-count': bad },
      ).usage;
      assert.ok(invalidUsageFields(usage).length > 0, bad);
    }
  });

  test('a total below the cache-less sum is not repaired: the core sees it as invalid', () => {
    const usage = bedrockAdapter.extractUsage(route('converse'), {
      usage: { inputTokens: 10, outputTokens: 10, totalTokens: 5 },
    }).usage;
    assert.deepEqual(invalidUsageFields(usage), ['totalTokens']);
  });
});

describe('billed counts against the model body', () => {
  test('InvokeModel: headers win field by field and the result is flagged', () => {
    const extracted = bedrockAdapter.extractUsage(
      route('invoke'),
      { model: 'claude-3-5-haiku-20241022', usage: { input_tokens: 100, output_tokens: 50 } },
      { 'x-amzn-bedrock-input-token-count': '104', 'x-amzn-bedrock-output-token-count': '50' },
    );
    assert.deepEqual(extracted.usage, { promptTokens: 104, completionTokens: 50, totalTokens: 154 });
    assert.deepEqual(extracted.flags, ['billed_counts_differ']);
    assert.equal(extracted.responseModel, 'claude-3-5-haiku-20241022');
  });

  test('agreeing headers raise no flag; headers alone are enough', () => {
    const agree = bedrockAdapter.extractUsage(
      route('invoke'),
      { usage: { input_tokens: 100, output_tokens: 50 } },
      { 'x-amzn-bedrock-input-token-count': '100', 'x-amzn-bedrock-output-token-count': '50' },
    );
    assert.equal(agree.flags, undefined);
    const alone = bedrockAdapter.extractUsage(
      route('invoke'),
      { generations: [] },
      {
        'x-amzn-bedrock-input-token-count': '7',
        'x-amzn-bedrock-output-token-count': '3',
      },
    );
    assert.deepEqual(alone.usage, { promptTokens: 7, completionTokens: 3, totalTokens: 10 });
  });

  test('cache headers: prompt = input + cache read + cache write', () => {
    const extracted = bedrockAdapter.extractUsage(
      route('invoke'),
      {
        usage: {
          input_tokens: 4,
          output_tokens: 5,
          cache_read_input_tokens: 1000,
          cache_creation_input_tokens: 0,
        },
      },
      {
        'x-amzn-bedrock-input-token-count': '4',
        'x-amzn-bedrock-output-token-count': '5',
        'x-amzn-bedrock-cache-read-input-token-count': '1000',
        'x-amzn-bedrock-cache-write-input-token-count': '0',
      },
    );
    assert.deepEqual(extracted.usage, {
      promptTokens: 1004,
      completionTokens: 5,
      totalTokens: 1009,
      cachedTokens: 1000,
      cacheWriteTokens: 0,
    });
    assert.equal(extracted.flags, undefined);
  });

  test('InvokeModelWithResponseStream: invocation metrics win over the model events, flagged', () => {
    const stream = Buffer.concat([
      chunkMessage({ type: 'message_start', message: { usage: { input_tokens: 30, output_tokens: 1 } } }),
      chunkMessage({ type: 'message_delta', usage: { output_tokens: 9 } }),
      chunkMessage({
        type: 'message_stop',
        'amazon-bedrock-invocationMetrics': {
          inputTokenCount: 31,
          outputTokenCount: 9,
          invocationLatency: 900,
          firstByteLatency: 300,
          cacheReadInputTokenCount: 64,
        },
      }),
    ]);
    const result = run('invoke-with-response-stream', [stream]);
    assert.deepEqual(result.usage, {
      promptTokens: 95,
      completionTokens: 9,
      totalTokens: 104,
      cachedTokens: 64,
    });
    assert.deepEqual(result.flags, ['billed_counts_differ']);
    assert.equal(result.completed, true);
  });

  test('latencies are never tokens', () => {
    const result = run('invoke-with-response-stream', [
      chunkMessage({
        generation: 'Hi',
        'amazon-bedrock-invocationMetrics': { invocationLatency: 900, firstByteLatency: 300 },
      }),
    ]);
    assert.deepEqual(result.usage, {});
    assert.equal(result.completed, true);
  });
});

describe('guardrail units', () => {
  const trace = {
    guardrail: {
      inputAssessment: {
        g1: {
          invocationMetrics: {
            usage: { topicPolicyUnits: 1000, contentPolicyUnits: 500, wordPolicyUnits: 3 },
          },
        },
      },
    },
  };

  test('ConverseStream metadata trace: policy units are not counted', () => {
    const result = run('converse-stream', [converseStream('ok', USAGE, { trace })]);
    assert.deepEqual(result.usage, { promptTokens: 20, completionTokens: 7, totalTokens: 27 });
  });

  test('Converse trace: policy units are not counted; a trace without usage reports nothing', () => {
    assert.deepEqual(
      bedrockAdapter.extractUsage(route('converse'), { usage: USAGE, trace, metrics: { latencyMs: 99 } })
        .usage,
      { promptTokens: 20, completionTokens: 7, totalTokens: 27 },
    );
    assert.deepEqual(
      bedrockAdapter.extractUsage(route('converse'), { trace, metrics: { latencyMs: 99 } }).usage,
      {},
    );
  });
});

describe('events too large', () => {
  test('a message over maxEventBytes is passed unread, the metadata after it is read', () => {
    const big = eventMessage('contentBlockDelta', {
      contentBlockIndex: 0,
      delta: { text: 'x'.repeat(5000) },
    });
    const stream = Buffer.concat([big, converseStream('y', USAGE)]);
    let warned = 0;
    const result = run('converse-stream', splitAt(stream, [100, 2000, 5100]), {
      maxEventBytes: 1024,
      onEventTooLarge: () => (warned += 1),
    });
    assert.equal(warned, 1);
    assert.equal(result.eventTooLarge, true);
    assert.equal(result.usageAfterTooLarge, true);
    assert.deepEqual(result.usage, { promptTokens: 20, completionTokens: 7, totalTokens: 27 });
    assert.equal(result.generatedText, 'y');
  });

  test('a too-large metadata event: usage unread, said so', () => {
    const stream = converseStream('y', { ...USAGE }, { padding: 'p'.repeat(4000) });
    const result = run('converse-stream', [stream], { maxEventBytes: 1024 });
    assert.equal(result.eventTooLarge, true);
    assert.equal(result.usageAfterTooLarge, false);
    assert.deepEqual(result.usage, {});
  });
});

describe('after the documented end', () => {
  test('nothing after metadata is read: a second metadata is not counted', () => {
    const result = run('converse-stream', [
      GOOD,
      converseStream('again', { inputTokens: 999, outputTokens: 999 }),
    ]);
    assert.deepEqual(result.usage, { promptTokens: 20, completionTokens: 7, totalTokens: 27 });
  });
});

describe('long streams', () => {
  test('over 4 MiB of text deltas: kept unread, then read in bounded pieces, text whole and in order', () => {
    const piece = 'abcdefghij'.repeat(100);
    const parts = [eventMessage('messageStart', { role: 'assistant' })];
    for (let i = 0; i < 4000; i += 1)
      parts.push(
        eventMessage('contentBlockDelta', { contentBlockIndex: 0, delta: { text: `${i}:${piece}` } }),
      );
    parts.push(eventMessage('messageStop', { stopReason: 'max_tokens' }));
    const result = run('converse-stream', [Buffer.concat(parts)]);
    assert.equal(result.completed, false);
    const text = result.generatedText;
    assert.ok(text.startsWith(`0:${piece}1:${piece}`));
    assert.ok(text.endsWith(`3999:${piece}`));
    assert.equal(text.split(':').length, 4001);
  });
});
