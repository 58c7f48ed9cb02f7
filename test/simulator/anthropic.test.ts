import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { anthropicAdapter } from '../../src/providers/anthropic/index.js';
import { FAIL_HEADER, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { countMessagesTokens, countTextTokens } from '../../src/simulator/text.js';
import { asRecord, parseSse, postJson } from './helpers.js';

const VERSION = { 'anthropic-version': '2023-06-01' };
const messages = [{ role: 'user' as const, content: 'How many tokens is this?' }];
const PROMPT_TOKENS = countMessagesTokens(messages);

describe('simulator: Anthropic Messages', () => {
  let sim: Simulator;
  let client: Anthropic;
  before(async () => {
    sim = await startSimulator({ completionTokens: 8 });
    client = new Anthropic({ baseURL: sim.url, apiKey: 'sk-ant-test', maxRetries: 0 });
  });
  after(() => sim.close());
  beforeEach(() => sim.resetStats());

  it('answers a message in the Messages shape, through the official SDK', async () => {
    const message = await client.messages.create({ model: 'claude-sonnet-5', max_tokens: 100, messages });
    assert.match(message.id, /^msg_/);
    assert.equal(message.type, 'message');
    assert.equal(message.role, 'assistant');
    assert.equal(message.model, 'claude-sonnet-5');
    assert.equal(message.stop_reason, 'end_turn');
    assert.equal(message.stop_sequence, null);
    const block = message.content[0];
    assert.ok(block?.type === 'text');
    assert.equal(countTextTokens(block.text), 8);
    assert.deepEqual(message.usage, {
      input_tokens: PROMPT_TOKENS,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      output_tokens: 8,
    });
    const stats = sim.stats();
    assert.deepEqual([stats.promptTokens, stats.completionTokens], [PROMPT_TOKENS, 8]);
    assert.ok(stats.lastRequest?.headers['anthropic-version'] !== undefined);
  });

  it('streams like the captures: message_start, ping, text deltas, cumulative message_delta', async () => {
    const res = await postJson(
      `${sim.url}/v1/messages`,
      { model: 'claude-x', max_tokens: 3, stream: true, messages },
      VERSION,
    );
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
    const events = parseSse(res.text);
    assert.deepEqual(
      events.map((e) => e.event),
      [
        'message_start',
        'content_block_start',
        'ping',
        'content_block_delta',
        'content_block_delta',
        'content_block_delta',
        'content_block_stop',
        'message_delta',
        'message_stop',
      ],
    );
    // Each event's JSON type equals its event name; the ping is written as the API writes it.
    for (const e of events) assert.equal(asRecord(JSON.parse(e.data)).type, e.event);
    assert.match(res.text, /event: ping\ndata: \{"type": "ping"\}\n\n/);
    const start = asRecord(asRecord(JSON.parse(events[0]?.data ?? '')).message);
    assert.deepEqual(start.usage, {
      input_tokens: PROMPT_TOKENS,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      output_tokens: 1,
    });
    const messageDelta = asRecord(JSON.parse(events[7]?.data ?? ''));
    assert.deepEqual(messageDelta.usage, { output_tokens: 3 });
    assert.equal(asRecord(messageDelta.delta).stop_reason, 'max_tokens');

    // The adapter reads it exactly: 3 output tokens, not 1 + 3.
    const tap = anthropicAdapter.createStreamTap(
      { operation: 'messages', metered: true, upstreamPath: '/v1/messages' },
      { stripUsageChunk: false },
    );
    tap.push(Buffer.from(res.text));
    tap.flush();
    const result = tap.result();
    assert.deepEqual(result.usage, {
      promptTokens: PROMPT_TOKENS,
      completionTokens: 3,
      totalTokens: PROMPT_TOKENS + 3,
      cachedTokens: 0,
      cacheWriteTokens: 0,
    });
    assert.equal(result.completed, true);
    assert.equal(countTextTokens(result.generatedText), 3);
    assert.deepEqual([sim.stats().promptTokens, sim.stats().completionTokens], [PROMPT_TOKENS, 3]);
  });

  it('streams through the SDK, whose final message agrees with the stats', async () => {
    const stream = client.messages.stream({
      model: 'claude-x',
      max_tokens: 50,
      system: 'Be brief.',
      messages,
    });
    const final = await stream.finalMessage();
    const expected = countMessagesTokens([{ role: 'system', content: 'Be brief.' }, ...messages]);
    assert.equal(final.usage.input_tokens, expected);
    assert.equal(final.usage.output_tokens, 8);
    assert.deepEqual([sim.stats().promptTokens, sim.stats().completionTokens], [expected, 8]);
  });

  it('count_tokens answers {input_tokens}, the same count /v1/messages reports, and bills nothing', async () => {
    const counted = await client.messages.countTokens({ model: 'claude-x', messages });
    assert.deepEqual(counted, { input_tokens: PROMPT_TOKENS });
    const stats = sim.stats();
    assert.deepEqual([stats.requests, stats.errors, stats.totalTokens], [1, 0, 0]);
  });

  it('requires anthropic-version and max_tokens, answering in the Anthropic error shape', async () => {
    const noVersion = await postJson(`${sim.url}/v1/messages`, { model: 'm', max_tokens: 1, messages });
    assert.equal(noVersion.status, 400);
    assert.deepEqual(JSON.parse(noVersion.text), {
      type: 'error',
      error: { type: 'invalid_request_error', message: 'anthropic-version: header is required' },
    });
    const noMax = await postJson(`${sim.url}/v1/messages`, { model: 'm', messages }, VERSION);
    assert.equal(noMax.status, 400);
    assert.equal(asRecord(asRecord(JSON.parse(noMax.text)).error).type, 'invalid_request_error');
    assert.equal(sim.stats().errors, 2);
  });

  for (const [mode, status, type] of [
    ['500', 500, 'api_error'],
    ['429', 429, 'rate_limit_error'],
  ] as const) {
    it(`answers ${mode} with an Anthropic error body the SDK understands`, async () => {
      const err = await client.messages
        .create({ model: 'm', max_tokens: 5, messages }, { headers: { [FAIL_HEADER]: mode } })
        .then(
          () => assert.fail('expected an error'),
          (e: unknown) => e,
        );
      assert.ok(err instanceof Anthropic.APIError);
      assert.equal(err.status, status);
      assert.equal(asRecord(asRecord(err.error).error).type, type);
      assert.deepEqual([sim.stats().errors, sim.stats().totalTokens], [1, 0]);
    });
  }

  it('stream-error: an error event after a few deltas, then the stream ends', async () => {
    const res = await postJson(
      `${sim.url}/v1/messages`,
      { model: 'm', max_tokens: 20, stream: true, messages },
      { ...VERSION, [FAIL_HEADER]: 'stream-error' },
    );
    assert.equal(res.status, 200);
    const events = parseSse(res.text);
    assert.deepEqual(events.at(-1), {
      event: 'error',
      data: '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
    });
    assert.equal(events.filter((e) => e.event === 'content_block_delta').length, 3);
    assert.ok(!events.some((e) => e.event === 'message_stop'));
    const json = await postJson(
      `${sim.url}/v1/messages`,
      { model: 'm', max_tokens: 20, messages },
      { ...VERSION, [FAIL_HEADER]: 'stream-error' },
    );
    assert.equal(json.status, 500);
    assert.equal(asRecord(JSON.parse(json.text)).type, 'error');
    assert.deepEqual([sim.stats().errors, sim.stats().totalTokens], [2, 0]);
  });
});
