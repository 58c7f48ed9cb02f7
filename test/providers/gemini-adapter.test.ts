import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteMatch } from '../../src/providers/types.js';
import { geminiAdapter, takeGeminiQueryCredential } from '../../src/providers/gemini/index.js';
import { getProviderAdapter, PROVIDER_TYPES } from '../../src/providers/registry.js';

function route(subPath: string): RouteMatch {
  const match = geminiAdapter.matchRoute('POST', subPath);
  assert.ok(match, `no route for ${subPath}`);
  return match;
}

test('registered as the gemini provider type', () => {
  assert.ok(PROVIDER_TYPES.includes('gemini'));
  assert.equal(getProviderAdapter('gemini'), geminiAdapter);
});

test('routes: the three methods on Gemini API and Vertex AI paths, model from the path', () => {
  assert.deepEqual(geminiAdapter.matchRoute('POST', '/v1beta/models/gemini-2.5-flash:generateContent'), {
    operation: 'generateContent',
    metered: true,
    pathModel: 'gemini-2.5-flash',
    params: { model: 'gemini-2.5-flash' },
    upstreamPath: '/v1beta/models/gemini-2.5-flash:generateContent',
  });
  const stream = '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse';
  assert.deepEqual(route(stream), {
    operation: 'streamGenerateContent',
    metered: true,
    pathModel: 'gemini-2.5-flash',
    params: { model: 'gemini-2.5-flash' },
    upstreamPath: stream,
  });
  // countTokens is forwarded but free: not metered.
  assert.deepEqual(route('/v1/models/gemini-2.0-flash:countTokens'), {
    operation: 'countTokens',
    metered: false,
    pathModel: 'gemini-2.0-flash',
    params: { model: 'gemini-2.0-flash' },
    upstreamPath: '/v1/models/gemini-2.0-flash:countTokens',
  });
  // Vertex AI paths also name the project and location: route.params in expressions.
  assert.deepEqual(
    route(
      '/v1/projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent',
    ).params,
    { model: 'gemini-2.5-pro', project: 'my-proj', location: 'us-central1' },
  );
  for (const [path, model] of [
    [
      '/v1/projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent',
      'gemini-2.5-pro',
    ],
    [
      '/v1beta1/projects/p/locations/global/publishers/google/models/gemini-2.5-flash:streamGenerateContent',
      'gemini-2.5-flash',
    ],
    ['/v1/publishers/google/models/gemini-2.5-flash-lite:generateContent', 'gemini-2.5-flash-lite'],
    ['/v1beta/tunedModels/my%20tuned:generateContent', 'my tuned'],
  ] as const) {
    assert.equal(route(path).pathModel, model, path);
  }
  for (const path of [
    '/v1beta/models/gemini-2.5-flash:embedContent',
    '/v1beta/models/gemini-2.5-flash',
    '/v1beta/models:generateContent',
    '/v2/models/m:generateContent',
    '/v1beta/models/a/b:generateContent',
    '/v1/projects/p/locations/l/publishers/anthropic/models/claude:generateContent',
    '/chat/completions',
  ]) {
    assert.equal(geminiAdapter.matchRoute('POST', path), undefined, path);
  }
  assert.equal(geminiAdapter.matchRoute('GET', '/v1beta/models/m:generateContent'), undefined);
});

test('takeQueryCredential: the key is taken out, other parameters stay in order', () => {
  assert.deepEqual(
    takeGeminiQueryCredential('/v1beta/models/m:streamGenerateContent?alt=sse&key=AIza-1&x=2'),
    {
      key: 'AIza-1',
      subPath: '/v1beta/models/m:streamGenerateContent?alt=sse&x=2',
    },
  );
  assert.deepEqual(takeGeminiQueryCredential('/v1beta/models/m:generateContent?key=k%2B1'), {
    key: 'k+1',
    subPath: '/v1beta/models/m:generateContent',
  });
  // Every spelling Google's front end reads as `key` is removed; the first value is the key.
  assert.deepEqual(takeGeminiQueryCredential('/p?%24key=a&b=%20x&k%65y=c&$key=d&key'), {
    key: 'a',
    subPath: '/p?b=%20x',
  });
  assert.deepEqual(takeGeminiQueryCredential('/p?key=&alt=sse'), { subPath: '/p?alt=sse' });
  assert.deepEqual(takeGeminiQueryCredential('/p?keys=1&monkey=2'), { subPath: '/p?keys=1&monkey=2' });
  assert.deepEqual(takeGeminiQueryCredential('/p'), { subPath: '/p' });
  assert.deepEqual(geminiAdapter.takeQueryCredential?.('/p?key=k'), { key: 'k', subPath: '/p' });
});

test('inspectRequest and prepareBody: model from the path, stream from the method, body untouched', () => {
  const body = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }], model: 'ignored', user: 'u' };
  const raw = Buffer.from(JSON.stringify(body));
  const streamRoute = route('/v1beta/models/gemini-2.5-flash:streamGenerateContent');
  const info = geminiAdapter.inspectRequest(streamRoute, body);
  assert.deepEqual(info, { stream: true, clientWantsStreamUsage: false, model: 'gemini-2.5-flash' });
  const prepared = geminiAdapter.prepareBody(streamRoute, info, body, raw, true);
  assert.equal(prepared.body, raw);
  assert.equal(prepared.stripUsageChunk, false);
  assert.equal(geminiAdapter.inspectRequest(route('/v1/models/m:generateContent'), body).stream, false);
});

test('isStreamedResponse: every streamGenerateContent answer, whatever its framing; never generateContent', () => {
  const array = route('/v1beta/models/m:streamGenerateContent');
  const sse = route('/v1beta/models/m:streamGenerateContent?alt=sse');
  const unary = route('/v1beta/models/m:generateContent');
  assert.equal(geminiAdapter.isStreamedResponse?.(array, 'application/json; charset=UTF-8'), true);
  assert.equal(geminiAdapter.isStreamedResponse?.(sse, 'text/event-stream'), true);
  // An alt=sse call answered with JSON (an array, or one error object) is read as the array.
  assert.equal(geminiAdapter.isStreamedResponse?.(sse, 'application/json'), true);
  assert.equal(geminiAdapter.isStreamedResponse?.(unary, 'text/event-stream'), false);
});

test("the stream tap follows the answer's framing, not the alt the call asked for", () => {
  const usage = { promptTokenCount: 5, candidatesTokenCount: 1, totalTokenCount: 6 };
  const chunk = JSON.stringify({
    candidates: [{ content: { parts: [{ text: 'hi' }] } }],
    usageMetadata: usage,
  });
  const sseRoute = route('/v1beta/models/m:streamGenerateContent?alt=sse');
  const arrayRoute = route('/v1beta/models/m:streamGenerateContent');
  const cases = [
    { r: sseRoute, contentType: 'application/json', body: `[${chunk}]` },
    { r: arrayRoute, contentType: 'text/event-stream', body: `data: ${chunk}\r\n\r\n` },
    { r: sseRoute, contentType: undefined, body: `data: ${chunk}\r\n\r\n` },
    { r: arrayRoute, contentType: undefined, body: `[${chunk}]` },
  ];
  for (const { r, contentType, body } of cases) {
    const tap = geminiAdapter.createStreamTap(r, {
      stripUsageChunk: false,
      ...(contentType !== undefined ? { contentType } : {}),
    });
    tap.push(Buffer.from(body));
    tap.flush();
    assert.deepEqual(tap.result().usage, { promptTokens: 5, completionTokens: 1, totalTokens: 6 }, body);
  }
});

test('promptText: systemInstruction and contents text parts; countTokens wrapper', () => {
  const request = {
    systemInstruction: { parts: [{ text: 'Be brief.' }] },
    contents: [
      { role: 'user', parts: [{ text: 'Hello' }, { inlineData: { mimeType: 'image/png', data: 'AAAA' } }] },
      { role: 'model', parts: [{ text: 'Hi!' }] },
      { role: 'user', parts: [{ text: 'Count to 3' }] },
    ],
  };
  const unary = route('/v1beta/models/m:generateContent');
  assert.equal(geminiAdapter.promptText(unary, request), 'Be brief.\nHello\nHi!\nCount to 3');
  const count = route('/v1beta/models/m:countTokens');
  assert.equal(
    geminiAdapter.promptText(count, { generateContentRequest: request }),
    'Be brief.\nHello\nHi!\nCount to 3',
  );
  assert.equal(geminiAdapter.promptText(unary, null), '');
});

test('extractUsage: countTokens answers are no usage; backendAuth is x-goog-api-key', () => {
  assert.deepEqual(geminiAdapter.extractUsage(route('/v1beta/models/m:countTokens'), { totalTokens: 31 }), {
    usage: {},
  });
  assert.deepEqual(geminiAdapter.extractUsage(route('/v1beta/models/m:generateContent'), { error: {} }), {
    usage: {},
  });
  assert.deepEqual(geminiAdapter.backendAuth('AIza-backend'), {
    header: 'x-goog-api-key',
    value: 'AIza-backend',
  });
});
