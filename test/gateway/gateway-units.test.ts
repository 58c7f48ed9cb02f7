import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { createApiRouter } from '../../src/gateway/api-router.js';
import { jsonOutcomeUsage, streamOutcomeUsage } from '../../src/gateway/call-meter.js';
import { createClientIpResolver } from '../../src/gateway/client-ip.js';
import { readSubscriptionKey } from '../../src/auth/client-credentials.js';
import { estimateTokens } from '../../src/providers/estimate.js';

function request(remoteAddress: string, xff?: string): IncomingMessage {
  return {
    socket: { remoteAddress },
    headers: xff === undefined ? {} : { 'x-forwarded-for': xff },
  } as unknown as IncomingMessage;
}

describe('client IP', () => {
  test('without trusted proxies X-Forwarded-For is ignored (a client cannot forge its address)', () => {
    const ip = createClientIpResolver([]);
    assert.equal(ip.resolve(request('10.0.0.5', '1.2.3.4')), '10.0.0.5');
    assert.equal(ip.resolve(request('::ffff:127.0.0.1')), '127.0.0.1');
  });

  test('from a trusted proxy the nearest untrusted hop is the client', () => {
    const ip = createClientIpResolver(['10.0.0.0/8', '192.168.1.1']);
    assert.equal(ip.resolve(request('10.1.2.3', '203.0.113.7')), '203.0.113.7');
    // A forged left-most entry is not believed: the right-most untrusted hop wins.
    assert.equal(ip.resolve(request('10.1.2.3', '6.6.6.6, 203.0.113.7, 192.168.1.1')), '203.0.113.7');
    // An untrusted peer's header is ignored entirely.
    assert.equal(ip.resolve(request('198.51.100.9', '1.1.1.1')), '198.51.100.9');
  });

  test('malformed X-Forwarded-For entries stop the walk instead of becoming the address', () => {
    const ip = createClientIpResolver(['10.0.0.0/8']);
    assert.equal(ip.resolve(request('10.1.2.3', 'not-an-ip')), '10.1.2.3');
    assert.equal(ip.resolve(request('10.1.2.3', '')), '10.1.2.3');
  });
});

describe('API routing', () => {
  const config = configSchema.parse({
    backends: [{ id: 'b', type: 'openai', url: 'http://127.0.0.1:9/v1' }],
    apis: [
      { id: 'short', path: '/openai', type: 'openai', backend: 'b' },
      { id: 'long', path: '/openai/v2', type: 'openai', backend: 'b' },
      { id: 'az', path: '/azure/', type: 'azure-openai', backend: 'b' },
    ],
  });
  const router = createApiRouter(config);

  test('the longest path prefix wins, on a segment boundary only', () => {
    assert.equal(router.match('/openai/v2/chat/completions')?.api.id, 'long');
    assert.equal(router.match('/openai/v2/chat/completions')?.subPath, '/chat/completions');
    assert.equal(router.match('/openai/chat/completions')?.api.id, 'short');
    assert.equal(router.match('/openaix/chat/completions'), undefined);
    assert.equal(router.match('/azure/openai/v1/embeddings?x=1')?.subPath, '/openai/v1/embeddings?x=1');
    assert.equal(router.match('/elsewhere'), undefined);
  });
});

describe('subscription key headers', () => {
  test('every header form DESIGN.md lists is read; Authorization only with the Bearer scheme', () => {
    for (const [header, value] of [
      ['api-key', 'k1-aaaaaaaa'],
      ['ocp-apim-subscription-key', 'k1-aaaaaaaa'],
      ['authorization', 'Bearer k1-aaaaaaaa'],
      ['authorization', 'bearer   k1-aaaaaaaa'],
      ['x-api-key', 'k1-aaaaaaaa'],
      ['x-goog-api-key', 'k1-aaaaaaaa'],
    ] as const) {
      assert.equal(readSubscriptionKey({ [header]: value }), 'k1-aaaaaaaa', header);
    }
    assert.equal(readSubscriptionKey({ authorization: 'Basic dXNlcjpwYXNz' }), undefined);
    assert.equal(readSubscriptionKey({ 'api-key': '' }), undefined);
    assert.equal(readSubscriptionKey({}), undefined);
  });
});

describe('how a stream is metered', () => {
  const prompt = (): string => 'How many tokens is this prompt?';
  const result = (
    over: Partial<Parameters<typeof streamOutcomeUsage>[0]>,
  ): Parameters<typeof streamOutcomeUsage>[0] => ({
    usage: {},
    generatedText: '',
    completed: true,
    errored: false,
    ...over,
  });

  test('reported usage wins; a stream cut after it is partial', () => {
    const usage = { promptTokens: 3, completionTokens: 4, totalTokens: 7 };
    assert.deepEqual(streamOutcomeUsage(result({ usage }), 200, false, prompt), {
      usage,
      source: 'reported',
      flags: [],
    });
    assert.deepEqual(streamOutcomeUsage(result({ usage, completed: false }), 200, false, prompt), {
      usage,
      source: 'partial',
      flags: [],
    });
    assert.deepEqual(streamOutcomeUsage(result({ usage }), 200, true, prompt), {
      usage,
      source: 'partial',
      flags: [],
    });
  });

  test('no usage at all: estimated from the prompt and the streamed text; partial when cut', () => {
    const done = streamOutcomeUsage(result({ generatedText: 'Hello there, world' }), 200, false, prompt);
    assert.equal(done.source, 'estimated');
    assert.ok((done.usage.promptTokens ?? 0) > 0 && (done.usage.completionTokens ?? 0) > 0);
    assert.equal(done.usage.totalTokens, (done.usage.promptTokens ?? 0) + (done.usage.completionTokens ?? 0));
    assert.equal(
      streamOutcomeUsage(result({ generatedText: 'Hel', completed: false }), 200, true, prompt).source,
      'partial',
    );
  });

  test('errors and provider error events without usage bill nothing', () => {
    assert.deepEqual(streamOutcomeUsage(result({}), 500, false, prompt), {
      usage: {},
      source: 'reported',
      flags: [],
    });
    assert.deepEqual(streamOutcomeUsage(result({ errored: true, generatedText: 'x' }), 200, false, prompt), {
      usage: {},
      source: 'reported',
      flags: [],
    });
  });
});

describe('reading a request body', () => {
  test('a client that closes mid-body settles the read with TM_BAD_REQUEST (no hanging call)', async () => {
    const { createServer } = await import('node:http');
    const { connect } = await import('node:net');
    const { readBody } = await import('../../src/gateway/read-body.js');
    const outcome = new Promise<unknown>((resolve) => {
      const server = createServer((req) => {
        readBody(req, 1_000_000).then(
          () => resolve('resolved'),
          (err: unknown) => {
            resolve(err);
            server.close();
          },
        );
      });
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        const port = typeof address === 'object' && address !== null ? address.port : 0;
        const socket = connect(port, '127.0.0.1', () => {
          socket.write('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{"partial":', () =>
            socket.destroy(),
          );
        });
      });
    });
    const err = (await outcome) as { code?: string };
    assert.equal(err.code, 'TM_BAD_REQUEST');
  });
});

describe('how a non-streamed answer is metered', () => {
  const prompt = (): string => 'How many tokens is this prompt?';
  const promptTokens = estimateTokens(prompt());
  test('reported usage as it is; errors bill what they report', () => {
    const usage = { promptTokens: 5, completionTokens: 2, totalTokens: 7 };
    assert.deepEqual(jsonOutcomeUsage({ usage }, 200, false, prompt), { usage, source: 'reported' });
    assert.deepEqual(jsonOutcomeUsage({ usage: {}, generatedText: 'x' }, 429, false, prompt), {
      usage: {},
      source: 'reported',
    });
  });
  test('a successful answer without readable usage is estimated and flagged, never reported empty', () => {
    const withText = jsonOutcomeUsage({ usage: {}, generatedText: 'Some answer text' }, 200, false, prompt);
    assert.equal(withText.source, 'estimated');
    assert.deepEqual(withText.flags, ['usage_unreadable']);
    assert.equal(withText.usage.promptTokens, promptTokens);
    assert.ok((withText.usage.completionTokens ?? 0) > 0);
    // Not JSON at all, or no text to count: the prompt is estimated, the completion stays unknown.
    for (const extracted of [undefined, { usage: {} }]) {
      assert.deepEqual(jsonOutcomeUsage(extracted, 201, false, prompt), {
        usage: { promptTokens },
        source: 'estimated',
        flags: ['usage_unreadable'],
      });
    }
  });
  test('an answer cut short is partial: what was read, else the estimated prompt of a 2xx', () => {
    const usage = { promptTokens: 5, completionTokens: 2, totalTokens: 7 };
    assert.deepEqual(jsonOutcomeUsage({ usage }, 200, true, prompt), { usage, source: 'partial' });
    assert.deepEqual(jsonOutcomeUsage(undefined, 200, true, prompt), {
      usage: { promptTokens },
      source: 'partial',
    });
    assert.deepEqual(jsonOutcomeUsage(undefined, 500, true, prompt), { usage: {}, source: 'partial' });
  });
});
