import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProviderAdapter, RouteMatch } from '../../src/providers/types.js';
import { openAiAdapter } from '../../src/providers/openai/index.js';
import { azureOpenAiAdapter } from '../../src/providers/azure-openai/index.js';
import { getProviderAdapter, PROVIDER_TYPES } from '../../src/providers/registry.js';
import { estimateTokens, estimateUsage } from '../../src/providers/estimate.js';

function route(adapter: ProviderAdapter, subPath: string): RouteMatch {
  const match = adapter.matchRoute('POST', subPath);
  assert.ok(match, `no route for ${subPath}`);
  return match;
}

test('openai routes: the four metered operations, query kept, anything else unmatched', () => {
  assert.deepEqual(openAiAdapter.matchRoute('POST', '/chat/completions'), {
    operation: 'chat.completions',
    metered: true,
    upstreamPath: '/chat/completions',
  });
  assert.equal(route(openAiAdapter, '/completions').operation, 'completions');
  assert.equal(route(openAiAdapter, '/embeddings').operation, 'embeddings');
  assert.deepEqual(openAiAdapter.matchRoute('post', '/responses?x=1'), {
    operation: 'responses',
    metered: true,
    upstreamPath: '/responses?x=1',
  });
  assert.equal(openAiAdapter.matchRoute('GET', '/chat/completions'), undefined);
  assert.equal(openAiAdapter.matchRoute('POST', '/models'), undefined);
  assert.equal(openAiAdapter.matchRoute('POST', '/chat/completions/extra'), undefined);
  assert.equal(openAiAdapter.matchRoute('POST', '/v1/chat/completions'), undefined);
});

test('azure routes: deployments (URL-decoded path model) and v1 (model from the body)', () => {
  const sub = '/openai/deployments/my%20gpt-4o/chat/completions?api-version=2024-10-21';
  assert.deepEqual(azureOpenAiAdapter.matchRoute('POST', sub), {
    operation: 'chat.completions',
    metered: true,
    pathModel: 'my gpt-4o',
    params: { deployment: 'my gpt-4o' },
    upstreamPath: sub,
  });
  assert.equal(
    route(azureOpenAiAdapter, '/openai/deployments/d/completions?api-version=1').operation,
    'completions',
  );
  assert.equal(route(azureOpenAiAdapter, '/openai/deployments/d/embeddings').operation, 'embeddings');
  // A deployment that is not a plain segment once decoded is refused (path-parameters.test.ts).
  assert.throws(() => azureOpenAiAdapter.matchRoute('POST', '/openai/deployments/bad%ZZ/embeddings'), {
    code: 'TM_BAD_PATH',
  });
  assert.throws(() => azureOpenAiAdapter.matchRoute('POST', '/openai/deployments//chat/completions'), {
    code: 'TM_BAD_PATH',
  });
  for (const [path, operation] of [
    ['/openai/v1/chat/completions', 'chat.completions'],
    ['/openai/v1/completions', 'completions'],
    ['/openai/v1/embeddings', 'embeddings'],
    ['/openai/v1/responses?api-version=preview', 'responses'],
    ['/openai/responses?api-version=2025-04-01-preview', 'responses'],
  ] as const) {
    const match = route(azureOpenAiAdapter, path);
    assert.equal(match.operation, operation);
    assert.equal(match.pathModel, undefined);
    assert.equal(match.params, undefined);
    assert.equal(match.upstreamPath, path);
  }
  for (const path of [
    '/openai/deployments/d/images/generations',
    '/openai/deployments/d',
    '/openai/v1/models',
    '/chat/completions',
  ]) {
    assert.equal(azureOpenAiAdapter.matchRoute('POST', path), undefined, path);
  }
});

test('inspectRequest: model, stream only when true, user, client stream usage; path model wins', () => {
  const chat = route(openAiAdapter, '/chat/completions');
  assert.deepEqual(
    openAiAdapter.inspectRequest(chat, {
      model: 'gpt-4o',
      stream: true,
      user: 'u-1',
      stream_options: { include_usage: true },
    }),
    { model: 'gpt-4o', stream: true, user: 'u-1', userField: 'user', clientWantsStreamUsage: true },
  );
  assert.deepEqual(openAiAdapter.inspectRequest(chat, { model: 7, stream: 'true', user: 5 }), {
    stream: false,
    clientWantsStreamUsage: false,
  });
  assert.deepEqual(openAiAdapter.inspectRequest(chat, null), {
    stream: false,
    clientWantsStreamUsage: false,
  });
  const azure = route(azureOpenAiAdapter, '/openai/deployments/dep-1/chat/completions');
  assert.equal(azureOpenAiAdapter.inspectRequest(azure, { model: 'other' }).model, 'dep-1');
});

function prepare(
  adapter: ProviderAdapter,
  subPath: string,
  body: unknown,
  inject = true,
): { raw: Buffer; out: Buffer; strip: boolean } {
  const match = route(adapter, subPath);
  const raw = Buffer.from(JSON.stringify(body, null, 1));
  const prepared = adapter.prepareBody(match, adapter.inspectRequest(match, body), body, raw, inject);
  return { raw, out: prepared.body, strip: prepared.stripUsageChunk };
}

test('prepareBody injects include_usage into streamed chat/completions and asks to strip', () => {
  for (const path of ['/chat/completions', '/completions']) {
    const body = { model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] };
    const { raw, out, strip } = prepare(openAiAdapter, path, body);
    assert.equal(strip, true);
    assert.deepEqual(JSON.parse(out.toString()), { ...body, stream_options: { include_usage: true } });
    // Inserted after the brace: every client byte is still there, in order.
    assert.equal(out.toString().replace('"stream_options":{"include_usage":true},', ''), raw.toString());
  }
});

test('prepareBody inserts without re-serialising: whitespace, escapes and big numbers unchanged', () => {
  const match = route(openAiAdapter, '/chat/completions');
  const raw = Buffer.from(
    ' \n{ "model" : "m", "stream":true, "seed": 123456789012345678901234567890, "x":"\\u00e9" }',
  );
  const body: unknown = JSON.parse(raw.toString());
  const prepared = openAiAdapter.prepareBody(
    match,
    openAiAdapter.inspectRequest(match, body),
    body,
    raw,
    true,
  );
  assert.equal(
    prepared.body.toString(),
    ' \n{"stream_options":{"include_usage":true}, "model" : "m", "stream":true, "seed": 123456789012345678901234567890, "x":"\\u00e9" }',
  );
});

test('prepareBody keeps other stream_options keys and overrides an explicit include_usage: false', () => {
  const body = {
    model: 'm',
    stream: true,
    stream_options: { include_usage: false, include_obfuscation: false },
  };
  const { out, strip } = prepare(openAiAdapter, '/chat/completions', body);
  assert.equal(strip, true);
  assert.deepEqual(JSON.parse(out.toString()), {
    model: 'm',
    stream: true,
    stream_options: { include_usage: true, include_obfuscation: false },
  });
});

test('prepareBody leaves the very Buffer alone when nothing must be added', () => {
  const cases: [ProviderAdapter, string, unknown, boolean][] = [
    [openAiAdapter, '/chat/completions', { stream: true, stream_options: { include_usage: true } }, true],
    [openAiAdapter, '/chat/completions', { stream: false }, true],
    [openAiAdapter, '/chat/completions', { stream: true }, false],
    [openAiAdapter, '/responses', { stream: true }, true],
    [openAiAdapter, '/embeddings', { stream: true }, true],
    [azureOpenAiAdapter, '/openai/v1/responses', { stream: true }, true],
  ];
  for (const [adapter, path, body, inject] of cases) {
    const { raw, out, strip } = prepare(adapter, path, body, inject);
    assert.equal(out, raw, path);
    assert.equal(strip, false);
  }
});

test('prepareBody works for Azure deployment routes too', () => {
  const { out, strip } = prepare(azureOpenAiAdapter, '/openai/deployments/d/chat/completions?api-version=1', {
    stream: true,
    messages: [],
  });
  assert.equal(strip, true);
  assert.deepEqual(JSON.parse(out.toString()), {
    stream_options: { include_usage: true },
    stream: true,
    messages: [],
  });
});

test('promptText collects the text of every request shape', () => {
  const text = (path: string, body: unknown): string =>
    openAiAdapter.promptText(route(openAiAdapter, path), body);
  assert.equal(
    text('/chat/completions', {
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Hello' },
            { type: 'image_url', image_url: { url: 'x' } },
          ],
        },
        { role: 'assistant', content: null },
      ],
    }),
    'Be brief.\nHello',
  );
  assert.equal(text('/completions', { prompt: 'Once' }), 'Once');
  assert.equal(text('/completions', { prompt: ['a', 'b', [1, 2]] }), 'a\nb');
  assert.equal(text('/embeddings', { input: ['x', 'y'] }), 'x\ny');
  assert.equal(text('/responses', { instructions: 'Sys', input: 'Q' }), 'Sys\nQ');
  assert.equal(
    text('/responses', {
      input: [
        { role: 'user', content: [{ type: 'input_text', text: 'Q1' }] },
        { role: 'user', content: 'Q2' },
      ],
    }),
    'Q1\nQ2',
  );
  assert.equal(text('/chat/completions', 'not an object'), '');
});

test('backendAuth: Bearer for openai, api-key for Azure', () => {
  assert.deepEqual(openAiAdapter.backendAuth('sk-1'), { header: 'authorization', value: 'Bearer sk-1' });
  assert.deepEqual(azureOpenAiAdapter.backendAuth('k-1'), { header: 'api-key', value: 'k-1' });
});

test('registry maps config types to adapters', () => {
  assert.deepEqual([...PROVIDER_TYPES].sort(), [
    'anthropic',
    'azure-openai',
    'bedrock',
    'cohere',
    'gemini',
    'ollama',
    'openai',
  ]);
  assert.equal(getProviderAdapter('openai'), openAiAdapter);
  assert.equal(getProviderAdapter('azure-openai'), azureOpenAiAdapter);
  assert.equal(getProviderAdapter('nope'), undefined);
});

test('estimation counts o200k tokens; special-token text is plain text', () => {
  assert.equal(estimateTokens(''), 0);
  assert.equal(estimateTokens('hello world'), 2);
  assert.ok(estimateTokens('a <|endoftext|> b') > 3);
  assert.deepEqual(estimateUsage('hello world', 'hello'), {
    promptTokens: 2,
    completionTokens: 1,
    totalTokens: 3,
  });
});
