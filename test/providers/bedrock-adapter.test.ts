// The Bedrock adapter's routes, model ids, request reading and count normalisation.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../../src/config/schema.js';
import { createApiRouter } from '../../src/gateway/api-router.js';
import {
  BEDROCK_OPERATIONS,
  bedrockAdapter,
  checkBedrockRequestPath,
  normaliseCounts,
  readModelId,
} from '../../src/providers/bedrock/index.js';
import { getProviderAdapter, PROVIDER_TYPES } from '../../src/providers/registry.js';
import { BAD_SEGMENTS, GOOD_SEGMENTS } from '../helpers/path-variants.js';

const ARN =
  'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20240620-v1:0';
/** How the AWS SDKs put a model id in the path: every reserved character percent-encoded. */
const encode = (id: string): string => encodeURIComponent(id);

describe('routes', () => {
  test('registered under type bedrock with its four metered operations', () => {
    assert.ok(PROVIDER_TYPES.includes('bedrock'));
    assert.equal(getProviderAdapter('bedrock'), bedrockAdapter);
    assert.deepEqual(bedrockAdapter.operations, [
      'Converse',
      'ConverseStream',
      'InvokeModel',
      'InvokeModelWithResponseStream',
    ]);
  });

  test('each action maps to its operation; streamed is the operation, not a body flag', () => {
    const cases: [string, string, boolean, boolean][] = [
      ['converse', BEDROCK_OPERATIONS.converse, true, false],
      ['converse-stream', BEDROCK_OPERATIONS.converseStream, true, true],
      ['invoke', BEDROCK_OPERATIONS.invokeModel, true, false],
      ['invoke-with-response-stream', BEDROCK_OPERATIONS.invokeModelWithResponseStream, true, true],
      ['count-tokens', BEDROCK_OPERATIONS.countTokens, false, false],
    ];
    for (const [action, operation, metered, stream] of cases) {
      const route = bedrockAdapter.matchRoute('post', `/model/amazon.nova-micro-v1%3A0/${action}`);
      assert.ok(route, action);
      assert.equal(route.operation, operation);
      assert.equal(route.metered, metered);
      assert.equal(route.pathModel, 'amazon.nova-micro-v1:0');
      assert.deepEqual(route.params, { modelId: 'amazon.nova-micro-v1:0' });
      assert.equal(route.upstreamPath, `/model/amazon.nova-micro-v1%3A0/${action}`);
      // The body cannot turn a Converse call into a stream, nor the reverse.
      assert.equal(bedrockAdapter.inspectRequest(route, { stream: !stream }).stream, stream);
      assert.equal(bedrockAdapter.inspectRequest(route, {}).model, 'amazon.nova-micro-v1:0');
    }
  });

  test('ARNs and inference profiles are one model id, decoded once; the path goes upstream encoded', () => {
    for (const id of [
      ARN,
      'us.anthropic.claude-3-5-haiku-20241022-v1:0',
      'arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/abc123',
      'arn:aws:bedrock:us-east-1:123456789012:provisioned-model/xyz',
      'arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2',
    ]) {
      const sub = `/model/${encode(id)}/converse`;
      const route = bedrockAdapter.matchRoute('POST', sub);
      assert.equal(route?.pathModel, id);
      assert.equal(route?.upstreamPath, sub);
    }
    // Double encoding decodes once to a literal.
    assert.equal(readModelId('a%253Ab'), 'a%3Ab');
  });

  test('other methods and paths are not routes', () => {
    for (const [method, sub] of [
      ['GET', '/model/m/converse'],
      ['POST', '/model/m/converse/extra'],
      ['POST', '/model/m/unknown'],
      ['POST', '/model//converse'],
      ['POST', '/guardrail/g/version/1/apply'],
      ['POST', '/async-invoke'],
      ['POST', '/model/m/invoke-with-bidirectional-stream'],
    ] as const)
      assert.equal(bedrockAdapter.matchRoute(method, sub), undefined, `${method} ${sub}`);
  });

  test('model ids that are not one id or ARN are TM_BAD_PATH', () => {
    for (const bad of [
      ...BAD_SEGMENTS,
      'us.model%2Fx',
      encode('arn:aws:bedrock:us-east-1:1:inference-profile/../../x'),
      encode('arn:aws:bedrock:us-east-1:1:inference-profile//x'),
      encode('arn:aws:bedrock:us-east-1:1:x/.'),
    ]) {
      assert.throws(() => readModelId(bad), { code: 'TM_BAD_PATH' }, bad);
    }
    for (const [raw, decoded] of GOOD_SEGMENTS) assert.equal(readModelId(raw), decoded, raw);
  });

  test('the API router lets an ARN through under a bedrock API only, and still refuses dot segments', () => {
    const router = createApiRouter(
      configSchema.parse({
        backends: [
          { id: 'aws', type: 'bedrock', url: 'http://127.0.0.1:1', apiKey: 'k' },
          { id: 'oai', type: 'openai', url: 'http://127.0.0.1:1/v1' },
        ],
        apis: [
          { id: 'bedrock', path: '/bedrock', type: 'bedrock', backend: 'aws' },
          { id: 'openai', path: '/openai/v1', type: 'openai', backend: 'oai' },
        ],
        products: [{ id: 'p', apis: ['bedrock', 'openai'] }],
        subscriptions: [{ id: 's', key: 'subscription-key-1', product: 'p' }],
      }),
    );
    const path = `/bedrock/model/${encode(ARN)}/converse`;
    assert.equal(router.match(path)?.subPath, `/model/${encode(ARN)}/converse`);
    assert.throws(() => router.match('/openai/v1/a%2Fb/chat/completions'), { code: 'TM_BAD_PATH' });
    assert.throws(() => router.match('/bedrock/model/a%2Fb/converse'), { code: 'TM_BAD_PATH' });
    assert.throws(() => router.match('/bedrock/model/%2e%2e%2fx/converse'), { code: 'TM_BAD_PATH' });
    assert.throws(() => router.match('/bedrock/../openai/v1/chat/completions'), { code: 'TM_BAD_PATH' });
    assert.throws(() => router.match('/elsewhere/%2e%2e/x'), { code: 'TM_BAD_PATH' });
    assert.equal(router.match('/elsewhere/x'), undefined);
  });

  test('checkBedrockRequestPath: dot parts, backslashes and controls refused, raw or encoded', () => {
    for (const bad of [
      '/model/..',
      '/model/%2e%2e',
      '/model/arn%3Ax%2F..%2Fy/converse',
      '/model/a%5Cb/x',
      '/model/a%00/x',
      '/model/x%2Fy/converse',
    ])
      assert.throws(() => checkBedrockRequestPath(bad), { code: 'TM_BAD_PATH' }, bad);
    assert.doesNotThrow(() => checkBedrockRequestPath(`/model/${encode(ARN)}/converse`));
  });
});

describe('normalisation', () => {
  test('prompt = input + cache read + cache write; a total that leaves the cache out is made whole', () => {
    assert.deepEqual(normaliseCounts({ input: 2, output: 5, cacheRead: 1322, cacheWrite: 0, total: 1329 }), {
      promptTokens: 1324,
      completionTokens: 5,
      totalTokens: 1329,
      cachedTokens: 1322,
      cacheWriteTokens: 0,
    });
    // A total of input + output only (the cache left out): replaced by prompt + completion.
    assert.deepEqual(normaliseCounts({ input: 2, output: 5, cacheRead: 1322, total: 7 }), {
      promptTokens: 1324,
      completionTokens: 5,
      totalTokens: 1329,
      cachedTokens: 1322,
    });
    // No total reported: derived. Nothing reported: nothing invented.
    assert.deepEqual(normaliseCounts({ input: 3 }), { promptTokens: 3, totalTokens: 3 });
    assert.deepEqual(normaliseCounts({}), {});
  });

  test('model bodies of each family', () => {
    const route = bedrockAdapter.matchRoute('POST', '/model/m/invoke');
    assert.ok(route);
    const cases: [unknown, object][] = [
      [
        { usage: { input_tokens: 10, output_tokens: 4, cache_creation_input_tokens: 100 } },
        { promptTokens: 110, completionTokens: 4, totalTokens: 114, cacheWriteTokens: 100 },
      ],
      [
        { usage: { inputTokens: 5, outputTokens: 10, totalTokens: 15, cacheReadInputTokenCount: 2 } },
        { promptTokens: 7, completionTokens: 10, totalTokens: 17, cachedTokens: 2 },
      ],
      [
        { prompt_token_count: 5, generation_token_count: 10, generation: 'x' },
        { promptTokens: 5, completionTokens: 10, totalTokens: 15 },
      ],
      [
        { inputTextTokenCount: 5, results: [{ tokenCount: 6 }, { tokenCount: 4 }] },
        { promptTokens: 5, completionTokens: 10, totalTokens: 15 },
      ],
      [
        { inputTextTokenCount: 7, embedding: [0.1, 0.2] },
        { promptTokens: 7, totalTokens: 7 },
      ],
      [
        { choices: [], usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 } },
        { promptTokens: 9, completionTokens: 3, totalTokens: 12 },
      ],
    ];
    for (const [body, usage] of cases)
      assert.deepEqual(bedrockAdapter.extractUsage(route, body).usage, usage, JSON.stringify(body));
  });

  test('CountTokens is forwarded but never billed', () => {
    const route = bedrockAdapter.matchRoute('POST', '/model/m/count-tokens');
    assert.ok(route);
    assert.deepEqual(
      bedrockAdapter.extractUsage(route, { inputTokens: 42 }, { 'x-amzn-bedrock-input-token-count': '42' })
        .usage,
      {},
    );
  });
});

describe('prompt text for estimation', () => {
  test('Converse, Anthropic, Meta and Titan request shapes', () => {
    const route = bedrockAdapter.matchRoute('POST', '/model/m/converse');
    assert.ok(route);
    assert.equal(
      bedrockAdapter.promptText(route, {
        system: [{ text: 'Be brief.' }],
        messages: [{ role: 'user', content: [{ text: 'Hello' }, { image: { format: 'png' } }] }],
      }),
      'Be brief.\nHello',
    );
    assert.equal(
      bedrockAdapter.promptText(route, { system: 'Sys', messages: [{ role: 'user', content: 'Hi' }] }),
      'Sys\nHi',
    );
    assert.equal(
      bedrockAdapter.promptText(route, { prompt: '<s>[INST] Hi [/INST]' }),
      '<s>[INST] Hi [/INST]',
    );
    assert.equal(bedrockAdapter.promptText(route, { inputText: 'Say hi' }), 'Say hi');
    assert.equal(bedrockAdapter.promptText(route, 'not an object'), '');
  });
});
