// The simulator's Cohere v2 API: chat JSON and SSE (message-start … message-end, [DONE]),
// billed_units below tokens by the template, embed, rerank's search units, Cohere's error
// shape, the failure modes and paced streams.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { TEMPLATE_TOKENS } from '../../src/simulator/cohere.js';
import { parseSse, postJson } from './helpers.js';

const messages = [{ role: 'user', content: "I'm Pickle Rick" }];
let sim: Simulator;

before(async () => {
  sim = await startSimulator({ completionTokens: 5 });
});
after(async () => {
  await sim.close();
});

type Usage = { billed_units: Record<string, number>; tokens: Record<string, number> };

describe('answers', () => {
  test('chat JSON: billed_units, and tokens with the template', async () => {
    sim.resetStats();
    const res = await postJson(`${sim.url}/v2/chat`, { model: 'command-r', messages });
    assert.equal(res.status, 200);
    const body = JSON.parse(res.text) as { usage: Usage; finish_reason: string };
    assert.equal(body.finish_reason, 'COMPLETE');
    assert.equal(body.usage.billed_units['output_tokens'], 5);
    assert.equal(
      body.usage.tokens['input_tokens'],
      (body.usage.billed_units['input_tokens'] ?? 0) + TEMPLATE_TOKENS,
    );
    assert.equal(sim.stats().promptTokens, body.usage.billed_units['input_tokens']);
  });

  test('chat SSE: named events, usage on message-end, then [DONE]', async () => {
    const res = await postJson(`${sim.url}/v2/chat`, {
      model: 'command-r',
      messages,
      stream: true,
      max_tokens: 3,
    });
    assert.equal(res.headers['content-type'], 'text/event-stream');
    const events = parseSse(res.text);
    assert.deepEqual(
      events.map((e) => e.event ?? e.data),
      [
        'message-start',
        'content-start',
        'content-delta',
        'content-delta',
        'content-delta',
        'content-end',
        'message-end',
        '[DONE]',
      ],
    );
    const end = JSON.parse(events[6]?.data ?? '') as { delta: { finish_reason: string; usage: Usage } };
    assert.equal(end.delta.finish_reason, 'MAX_TOKENS');
    assert.equal(end.delta.usage.billed_units['output_tokens'], 3);
  });

  test('embed bills input tokens; rerank search units only', async () => {
    const embed = JSON.parse(
      (await postJson(`${sim.url}/v2/embed`, { model: 'embed-v4.0', texts: ['a', 'b'] })).text,
    ) as {
      meta: { billed_units: Record<string, number> };
    };
    assert.ok((embed.meta.billed_units['input_tokens'] ?? 0) > 0);
    const before = sim.stats();
    const rerank = JSON.parse(
      (await postJson(`${sim.url}/v2/rerank`, { model: 'rerank-v3.5', query: 'q', documents: ['a'] })).text,
    ) as {
      meta: { billed_units: Record<string, number> };
    };
    assert.deepEqual(rerank.meta.billed_units, { search_units: 1 });
    assert.equal(sim.stats().totalTokens, before.totalTokens);
  });

  test('bad requests get Cohere errors: {id, message}', async () => {
    const res = await postJson(`${sim.url}/v2/chat`, { model: 'command-r', messages: [] });
    assert.equal(res.status, 400);
    assert.equal(typeof (JSON.parse(res.text) as { message: unknown }).message, 'string');
  });
});

describe('failure modes', () => {
  const fail = (mode: string) =>
    postJson(
      `${sim.url}/v2/chat`,
      { model: 'command-r', messages, stream: true },
      { 'x-simulator-fail': mode },
    );

  test('500, 429, stream-error (message-end ERROR), invalid-json (a malformed event first)', async () => {
    assert.equal((await fail('500')).status, 500);
    assert.equal((await fail('429')).status, 429);
    const errored = parseSse((await fail('stream-error')).text);
    assert.equal(errored.at(-1)?.event, 'message-end');
    assert.match(errored.at(-1)?.data ?? '', /"finish_reason":"ERROR"/);
    const malformed = parseSse((await fail('invalid-json')).text);
    assert.throws(() => JSON.parse(malformed[0]?.data ?? ''));
    assert.equal(malformed.at(-1)?.data, '[DONE]');
  });
});

test('a paced stream sends the same events', async () => {
  const paced = await startSimulator({ completionTokens: 4, tokensPerSecond: 500 });
  try {
    const res = await postJson(`${paced.url}/v2/chat`, { model: 'command-r', messages, stream: true });
    assert.equal(parseSse(res.text).filter((e) => e.event === 'content-delta').length, 4);
  } finally {
    await paced.close();
  }
});
