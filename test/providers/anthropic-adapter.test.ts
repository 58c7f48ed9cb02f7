// The anthropic adapter's request side and usage normalisation (DESIGN.md, "Token accounting").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anthropicAdapter } from '../../src/providers/anthropic/index.js';
import { getProviderAdapter, PROVIDER_TYPES } from '../../src/providers/registry.js';
import type { RouteMatch } from '../../src/providers/types.js';
import { invalidUsageFields, type TokenUsage } from '../../src/usage.js';

function route(subPath: string): RouteMatch {
  const match = anthropicAdapter.matchRoute('POST', subPath);
  assert.ok(match, subPath);
  return match;
}

const MESSAGES = route('/v1/messages');
const COUNT = route('/v1/messages/count_tokens');

test('registered as "anthropic"', () => {
  assert.ok(PROVIDER_TYPES.includes('anthropic'));
  assert.equal(getProviderAdapter('anthropic'), anthropicAdapter);
});

test('routes: messages is metered, count_tokens is forwarded unmetered, anything else is unmatched', () => {
  assert.deepEqual(MESSAGES, { operation: 'messages', metered: true, upstreamPath: '/v1/messages' });
  assert.deepEqual(COUNT, {
    operation: 'messages.count_tokens',
    metered: false,
    upstreamPath: '/v1/messages/count_tokens',
  });
  // The SDK's beta namespace adds ?beta=true: kept for upstream.
  assert.deepEqual(anthropicAdapter.matchRoute('post', '/v1/messages?beta=true'), {
    operation: 'messages',
    metered: true,
    upstreamPath: '/v1/messages?beta=true',
  });
  for (const [method, path] of [
    ['GET', '/v1/messages'],
    ['POST', '/v1/messages/batches'],
    ['POST', '/messages'],
    ['POST', '/v1/complete'],
    ['POST', '/v1/chat/completions'],
  ] as const) {
    assert.equal(anthropicAdapter.matchRoute(method, path), undefined, `${method} ${path}`);
  }
});

test('inspectRequest: model, stream, metadata.user_id; usage is never asked for', () => {
  const body = {
    model: 'claude-sonnet-4-5',
    max_tokens: 100,
    stream: true,
    metadata: { user_id: 'user-42' },
    messages: [{ role: 'user', content: 'hi' }],
  };
  assert.deepEqual(anthropicAdapter.inspectRequest(MESSAGES, body), {
    model: 'claude-sonnet-4-5',
    stream: true,
    user: 'user-42',
    userField: 'metadata.user_id',
    clientWantsStreamUsage: false,
  });
  assert.deepEqual(anthropicAdapter.inspectRequest(MESSAGES, { stream: 'yes', metadata: { user_id: 7 } }), {
    stream: false,
    clientWantsStreamUsage: false,
  });
  assert.deepEqual(anthropicAdapter.inspectRequest(COUNT, undefined), {
    stream: false,
    clientWantsStreamUsage: false,
  });
});

test('prepareBody: the very bytes the client sent, nothing to strip', () => {
  const raw = Buffer.from('{"model":"claude-x","stream":true,"max_tokens":5,"messages":[]}');
  const body: unknown = JSON.parse(raw.toString());
  const info = anthropicAdapter.inspectRequest(MESSAGES, body);
  for (const inject of [true, false]) {
    const prepared = anthropicAdapter.prepareBody(MESSAGES, info, body, raw, inject);
    assert.equal(prepared.body, raw);
    assert.equal(prepared.stripUsageChunk, false);
  }
});

test('backendAuth: x-api-key', () => {
  assert.deepEqual(anthropicAdapter.backendAuth('sk-ant-1'), { header: 'x-api-key', value: 'sk-ant-1' });
});

test('promptText: system (string or blocks) and message text, tool results included, images skipped', () => {
  const body = {
    system: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } }],
    messages: [
      { role: 'user', content: 'First question' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Calling a tool' },
          { type: 'tool_use', id: 't1', name: 'f', input: { q: 1 } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 't1', content: [{ type: 'text', text: '42' }] },
          { type: 'tool_result', tool_use_id: 't2', content: 'plain result' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } },
        ],
      },
    ],
  };
  assert.equal(
    anthropicAdapter.promptText(MESSAGES, body),
    'You are terse.\nFirst question\nCalling a tool\n42\nplain result',
  );
  assert.equal(anthropicAdapter.promptText(MESSAGES, { system: 'Sys', messages: [] }), 'Sys');
  assert.equal(anthropicAdapter.promptText(MESSAGES, 'not an object'), '');
});

test('usage: only reported counts; prompt is the sum of the input parts reported', () => {
  const usageOf = (usage: unknown): unknown => anthropicAdapter.extractUsage(MESSAGES, { usage }).usage;
  assert.deepEqual(usageOf({ input_tokens: 10, output_tokens: 4 }), {
    promptTokens: 10,
    completionTokens: 4,
    totalTokens: 14,
  });
  // Null means "not reported" (the API sends null cache counts on some models), never 0.
  assert.deepEqual(
    usageOf({
      input_tokens: 10,
      cache_creation_input_tokens: null,
      cache_read_input_tokens: 5,
      output_tokens: 4,
    }),
    { promptTokens: 15, completionTokens: 4, totalTokens: 19, cachedTokens: 5 },
  );
  assert.deepEqual(usageOf({ output_tokens: 4 }), { completionTokens: 4, totalTokens: 4 });
  // Absurd counts are not dropped here (that would bill the sane parts alone, -5 + 10 = 10): they
  // poison the sums they are part of, and the core's screen turns the call into an estimate.
  assert.deepEqual(invalidUsageFields(usageOf({ input_tokens: -1, output_tokens: 1.5 }) as TokenUsage), [
    'promptTokens',
    'completionTokens',
    'totalTokens',
  ]);
  assert.deepEqual(usageOf(null), {});
  assert.deepEqual(usageOf({}), {});
});

test('usage: output_tokens_details.thinking_tokens is reasoning, already inside the output', () => {
  const extracted = anthropicAdapter.extractUsage(MESSAGES, {
    type: 'message',
    model: 'claude-opus-4-5-20251101',
    usage: {
      input_tokens: 20,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      output_tokens: 300,
      output_tokens_details: { thinking_tokens: 250 },
    },
  });
  assert.deepEqual(extracted, {
    usage: {
      promptTokens: 20,
      completionTokens: 300,
      totalTokens: 320,
      cachedTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 250,
    },
    responseModel: 'claude-opus-4-5-20251101',
  });
});

test('error bodies and count_tokens answers carry no usage', () => {
  const error = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };
  assert.deepEqual(anthropicAdapter.extractUsage(MESSAGES, error), { usage: {} });
  assert.deepEqual(anthropicAdapter.extractUsage(COUNT, { input_tokens: 12 }), { usage: {} });
  assert.deepEqual(anthropicAdapter.extractUsage(MESSAGES, [1, 2]), { usage: {} });
});
