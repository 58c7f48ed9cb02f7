// Path parameters (Azure deployment, Gemini model / tuned model, Vertex project / location /
// model) are decoded once and must be plain segments; the whole request path has no dot
// segments or encoded separators. Unit level; the gateway tests check nothing is forwarded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRequestPath, readPathParameter } from '../../src/providers/sub-path.js';
import { azureOpenAiAdapter } from '../../src/providers/azure-openai/index.js';
import { geminiAdapter, takeGeminiQueryCredential } from '../../src/providers/gemini/index.js';
import { createApiRouter } from '../../src/gateway/api-router.js';
import { configSchema } from '../../src/config/schema.js';
import { BAD_SEGMENTS, GOOD_SEGMENTS } from '../helpers/path-variants.js';

test('readPathParameter: plain segments pass decoded once, anything else is TM_BAD_PATH', () => {
  for (const [raw, decoded] of GOOD_SEGMENTS) assert.equal(readPathParameter(raw, 'model'), decoded, raw);
  for (const raw of [...BAD_SEGMENTS, '']) {
    assert.throws(() => readPathParameter(raw, 'model'), { code: 'TM_BAD_PATH' }, raw);
  }
  assert.throws(() => readPathParameter('a%3Ab', 'model', ':'), { code: 'TM_BAD_PATH' });
  assert.equal(readPathParameter('a%3Ab', 'deployment'), 'a:b');
});

test('azure deployments: every bad variant refused, good ones metered by their decoded name', () => {
  for (const bad of BAD_SEGMENTS) {
    for (const endpoint of ['chat/completions', 'completions', 'embeddings']) {
      assert.throws(
        () => azureOpenAiAdapter.matchRoute('POST', `/openai/deployments/${bad}/${endpoint}?api-version=1`),
        { code: 'TM_BAD_PATH' },
        bad,
      );
    }
  }
  for (const [raw, decoded] of GOOD_SEGMENTS) {
    const sub = `/openai/deployments/${raw}/chat/completions?api-version=1`;
    const match = azureOpenAiAdapter.matchRoute('POST', sub);
    assert.equal(match?.pathModel, decoded, raw);
    // Forwarded as the client wrote it: the backend decodes it once, to the same name.
    assert.equal(match?.upstreamPath, sub);
  }
});

test('gemini and vertex: model, tuned model, project and location are all checked', () => {
  const templates = [
    (x: string) => `/v1beta/models/${x}:generateContent`,
    (x: string) => `/v1/models/${x}:streamGenerateContent?alt=sse`,
    (x: string) => `/v1alpha/tunedModels/${x}:countTokens`,
    (x: string) =>
      `/v1/projects/${x}/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent`,
    (x: string) => `/v1beta1/projects/p/locations/${x}/publishers/google/models/m:streamGenerateContent`,
    (x: string) => `/v1/projects/p/locations/l/publishers/google/models/${x}:generateContent`,
    (x: string) => `/v1/publishers/google/models/${x}:generateContent`,
  ];
  for (const template of templates) {
    for (const bad of [...BAD_SEGMENTS, 'a%3AgenerateContent']) {
      const path = template(bad);
      // A raw "/" in the value makes it no route at all (404); everything else is TM_BAD_PATH.
      let outcome: string;
      try {
        outcome = geminiAdapter.matchRoute('POST', path) === undefined ? 'unmatched' : 'matched';
      } catch (err) {
        outcome = (err as { code?: string }).code ?? 'thrown';
      }
      assert.ok(outcome === 'TM_BAD_PATH' || outcome === 'unmatched', `${path}: ${outcome}`);
    }
    for (const [raw, decoded] of GOOD_SEGMENTS) {
      const match = geminiAdapter.matchRoute('POST', template(raw));
      assert.ok(match !== undefined, template(raw));
      if (template(raw).includes(`/models/${raw}:`)) assert.equal(match.pathModel, decoded);
    }
  }
  assert.throws(() => geminiAdapter.matchRoute('POST', '/v1beta/models/..:generateContent'), {
    code: 'TM_BAD_PATH',
  });
  assert.throws(
    () =>
      geminiAdapter.matchRoute(
        'POST',
        '/v1/projects/../locations/x/publishers/google/models/m:generateContent',
      ),
    { code: 'TM_BAD_PATH' },
  );
});

test('checkRequestPath: dot segments and encoded separators anywhere in the path', () => {
  for (const path of [
    '/openai/v1/../admin',
    '/openai/v1/./chat/completions',
    '/openai/v1/%2e%2e/admin',
    '/openai/v1/.%2E/admin',
    '/openai/v1/chat%2fcompletions',
    '/openai/v1/chat%5Ccompletions',
    '/openai/v1/chat\\completions',
    '/openai/v1/chat%00/completions',
    '/openai/v1/chat/completions/..',
    '/../openai/v1/chat/completions',
  ]) {
    assert.throws(() => checkRequestPath(path), { code: 'TM_BAD_PATH' }, path);
  }
  for (const path of [
    '/openai/v1/chat/completions',
    '/openai/v1//chat/completions',
    '/openai/v1/chat/completions/',
    '/openai/deployments/%252e%252e/chat/completions',
    '/openai/v1/...',
    '/v1beta/models/gemini-2.5-flash:generateContent',
    '/openai/v1/bad%ZZ',
  ]) {
    assert.doesNotThrow(() => checkRequestPath(path), path);
  }
});

test('the API router refuses unsafe paths under any API, the query is not checked', () => {
  const router = createApiRouter(
    configSchema.parse({
      backends: [{ id: 'b', type: 'openai', url: 'http://127.0.0.1:1/v1' }],
      apis: [{ id: 'openai', path: '/openai/v1', type: 'openai', backend: 'b' }],
      products: [{ id: 'p', apis: ['openai'] }],
      subscriptions: [{ id: 's', key: 'subscription-key-1', product: 'p' }],
    }),
  );
  assert.throws(() => router.match('/openai/v1/../v1/chat/completions'), { code: 'TM_BAD_PATH' });
  assert.throws(() => router.match('/openai/v1/%2e%2e/x'), { code: 'TM_BAD_PATH' });
  assert.throws(() => router.match('/elsewhere/../openai/v1/chat/completions'), { code: 'TM_BAD_PATH' });
  assert.equal(
    router.match('/openai/v1/chat/completions?x=../..%2f')?.subPath,
    '/chat/completions?x=../..%2f',
  );
  assert.equal(router.match('/openai/v1x/chat/completions'), undefined);
  assert.equal(router.match('//openai/v1/chat/completions'), undefined);
});

test('gemini query: key, access_token and userProject are never forwarded, in any spelling', () => {
  assert.deepEqual(
    takeGeminiQueryCredential(
      '/v1beta/models/m:streamGenerateContent?alt=sse&userProject=theirs&%24userProject=x&access_token=ya29&key=K',
    ),
    { key: 'K', subPath: '/v1beta/models/m:streamGenerateContent?alt=sse' },
  );
  assert.deepEqual(takeGeminiQueryCredential('/v1/models/m:generateContent?$userProject=p'), {
    subPath: '/v1/models/m:generateContent',
  });
});
