// The cohere adapter's rules and its bad inputs: routes, request facts, billed_units against
// tokens, search units and classifications never tokens, cached tokens, absurd counts, and the
// SSE tap (error events, malformed events, oversized events, any split point).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { RouteMatch, StreamResult, StreamTapOptions } from '../../src/providers/types.js';
import { cohereAdapter, readCohereUsage } from '../../src/providers/cohere/index.js';
import { invalidUsageFields } from '../../src/usage.js';
import { splitAt } from '../sse/chunking.js';

function route(subPath: string): RouteMatch {
  const match = cohereAdapter.matchRoute('POST', subPath);
  assert.ok(match, `no route for ${subPath}`);
  return match;
}

const CHAT = '/v2/chat';
const event = (name: string, payload: unknown): string =>
  `event: ${name}\ndata: ${JSON.stringify(payload)}\n\n`;
const delta = (text: string): string =>
  event('content-delta', { type: 'content-delta', index: 0, delta: { message: { content: { text } } } });
const end = (usage: unknown, finish = 'COMPLETE'): string =>
  event('message-end', { type: 'message-end', delta: { finish_reason: finish, usage } });
const USAGE = {
  billed_units: { input_tokens: 5, output_tokens: 3 },
  tokens: { input_tokens: 71, output_tokens: 3 },
};

function replay(text: string, options: Partial<StreamTapOptions> = {}, points: number[] = []): StreamResult {
  const tap = cohereAdapter.createStreamTap(route(CHAT), { stripUsageChunk: false, ...options });
  const bytes = Buffer.from(text);
  for (const part of splitAt(bytes, points)) assert.equal(tap.push(part), part);
  tap.flush();
  return tap.result();
}

describe('routes and requests', () => {
  test('chat and embed are metered; rerank is forwarded only; nothing else is a route', () => {
    assert.deepEqual(
      [CHAT, '/v2/embed', '/v2/rerank'].map((p) => [route(p).operation, route(p).metered]),
      [
        ['chat', true],
        ['embed', true],
        ['rerank', false],
      ],
    );
    for (const path of ['/v1/chat', '/v2/classify', '/v2/chat/x', '/v2/tokenize'])
      assert.equal(cohereAdapter.matchRoute('POST', path), undefined, path);
    assert.equal(cohereAdapter.matchRoute('GET', CHAT), undefined);
  });

  test('a chat streams only with stream: true; embed never', () => {
    assert.equal(
      cohereAdapter.inspectRequest(route(CHAT), { model: 'command-r', stream: true }).stream,
      true,
    );
    assert.equal(cohereAdapter.inspectRequest(route(CHAT), { model: 'command-r' }).stream, false);
    assert.equal(cohereAdapter.inspectRequest(route(CHAT), { stream: 'true' }).stream, false);
    assert.equal(cohereAdapter.inspectRequest(route('/v2/embed'), { stream: true }).stream, false);
    assert.equal(
      cohereAdapter.inspectRequest(route(CHAT), { model: 'command-a-03-2025' }).model,
      'command-a-03-2025',
    );
  });

  test('prompt text: message strings and text blocks; embed texts', () => {
    assert.equal(
      cohereAdapter.promptText(route(CHAT), {
        messages: [
          { role: 'system', content: 'Be terse.' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Hi' },
              { type: 'image_url', image_url: { url: 'x' } },
            ],
          },
        ],
      }),
      'Be terse.\nHi',
    );
    assert.equal(cohereAdapter.promptText(route('/v2/embed'), { texts: ['a', 'b'] }), 'a\nb');
  });

  test('backend credential: Bearer', () => {
    assert.deepEqual(cohereAdapter.backendAuth('k'), { header: 'authorization', value: 'Bearer k' });
  });
});

describe('usage', () => {
  test('billed_units win; tokens are kept out of the counts', () => {
    assert.deepEqual(readCohereUsage(USAGE), { promptTokens: 5, completionTokens: 3, totalTokens: 8 });
  });

  test('billed_units without token counts: the `tokens` counts are used', () => {
    const tokensOnly = { tokens: { input_tokens: 71, output_tokens: 3 } };
    assert.deepEqual(readCohereUsage(tokensOnly), { promptTokens: 71, completionTokens: 3, totalTokens: 74 });
    assert.deepEqual(readCohereUsage({ billed_units: {}, ...tokensOnly }), {
      promptTokens: 71,
      completionTokens: 3,
      totalTokens: 74,
    });
    assert.deepEqual(readCohereUsage({}), {});
    assert.deepEqual(readCohereUsage('usage'), {});
  });

  test('search units, classifications and images are never tokens', () => {
    assert.deepEqual(readCohereUsage({ billed_units: { search_units: 5, classifications: 3 } }), {});
    const rerank = { id: 'r', results: [], meta: { billed_units: { search_units: 1 } } };
    assert.deepEqual(cohereAdapter.extractUsage(route('/v2/rerank'), rerank).usage, {});
    assert.deepEqual(cohereAdapter.extractUsage(route('/v2/embed'), rerank).usage, {});
    const embed = { id: 'e', meta: { billed_units: { input_tokens: 4, images: 2 } } };
    assert.deepEqual(cohereAdapter.extractUsage(route('/v2/embed'), embed).usage, {
      promptTokens: 4,
      totalTokens: 4,
    });
  });

  test('cached tokens are capped at the billed prompt', () => {
    assert.deepEqual(readCohereUsage({ ...USAGE, cached_tokens: 64 }), {
      promptTokens: 5,
      completionTokens: 3,
      totalTokens: 8,
      cachedTokens: 5,
    });
    assert.equal(readCohereUsage({ ...USAGE, cached_tokens: 2 }).cachedTokens, 2);
  });

  test('absurd counts are invalid (screened by the core)', () => {
    for (const bad of [1e20, -1, 1.5, '12']) {
      assert.ok(
        invalidUsageFields(readCohereUsage({ billed_units: { input_tokens: bad, output_tokens: 3 } }))
          .length > 0,
      );
      assert.ok(
        invalidUsageFields(readCohereUsage({ ...USAGE, cached_tokens: bad })).length > 0,
        String(bad),
      );
    }
  });

  test('an error body yields nothing; an answer without usage keeps its text for the estimate', () => {
    assert.deepEqual(
      cohereAdapter.extractUsage(route(CHAT), { id: 'x', message: 'invalid api token' }).usage,
      {},
    );
    const extracted = cohereAdapter.extractUsage(route(CHAT), {
      message: {
        content: [
          { type: 'thinking', thinking: 'Hm' },
          { type: 'text', text: 'Hi' },
        ],
      },
    });
    assert.equal(extracted.generatedText, 'HmHi');
  });
});

describe('the SSE tap', () => {
  const good =
    event('message-start', { id: '1', type: 'message-start', delta: {} }) +
    delta('Hel') +
    delta('lo') +
    end(USAGE) +
    'data: [DONE]\n\n';

  test('message-end is the end: its usage, nothing read after it', () => {
    const result = replay(good + end({ billed_units: { input_tokens: 999, output_tokens: 999 } }));
    assert.deepEqual(result.usage, { promptTokens: 5, completionTokens: 3, totalTokens: 8 });
    assert.equal(result.completed, true);
    assert.equal(result.generatedText, 'Hello');
  });

  test('a malformed event is skipped; later events are read', () => {
    const result = replay('event: content-delta\ndata: {"type":"content-delta","delta":\n\n' + good);
    assert.deepEqual(result.usage, { promptTokens: 5, completionTokens: 3, totalTokens: 8 });
    assert.equal(result.completed, true);
  });

  test('an error event or an ERROR finish marks the stream errored', () => {
    const failed = replay(delta('A') + event('error', { type: 'error', message: 'internal' }));
    assert.equal(failed.errored, true);
    assert.equal(failed.completed, false);
    const ended = replay(delta('A') + end(undefined, 'ERROR'));
    assert.equal(ended.errored, true);
    assert.deepEqual(ended.usage, {});
  });

  test('an event over maxEventBytes is forwarded unread; message-end after it is read', () => {
    let warned = 0;
    const result = replay(delta('x'.repeat(4000)) + good, {
      maxEventBytes: 1024,
      onEventTooLarge: () => (warned += 1),
    });
    assert.equal(warned, 1);
    assert.equal(result.eventTooLarge, true);
    assert.equal(result.usageAfterTooLarge, true);
    assert.equal(result.usage.completionTokens, 3);
  });

  test('any split point gives the same result (fast-check)', () => {
    const bytes = Buffer.from(delta('é😀') + good);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 40 }), (points) => {
        const result = replay(bytes.toString('utf8'), {}, points);
        assert.deepEqual(result.usage, { promptTokens: 5, completionTokens: 3, totalTokens: 8 });
        assert.equal(result.generatedText, 'é😀Hello');
      }),
    );
  });
});
