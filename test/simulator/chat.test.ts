import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import OpenAI from 'openai';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { countTextTokens } from '../../src/simulator/text.js';
import { asRecord, jsonEvents, parseSse, postJson } from './helpers.js';

const messages = [
  { role: 'system' as const, content: 'You are terse.' },
  { role: 'user' as const, content: 'Name a colour.' },
];

describe('simulator: chat completions through the openai SDK', () => {
  let sim: Simulator;
  let client: OpenAI;
  before(async () => {
    sim = await startSimulator({ completionTokens: 12 });
    client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'sk-test', maxRetries: 0 });
  });
  after(() => sim.close());
  beforeEach(() => sim.resetStats());

  it('answers non-streaming calls with the real shape and usage equal to the stats', async () => {
    const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
    assert.match(completion.id, /^chatcmpl-/);
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.model, 'gpt-4o-mini');
    assert.equal(completion.choices.length, 1);
    const choice = completion.choices[0];
    assert.equal(choice?.finish_reason, 'stop');
    assert.equal(choice.message.role, 'assistant');
    const usage = completion.usage;
    assert.ok(usage);
    assert.equal(usage.completion_tokens, 12);
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    assert.deepEqual(usage.prompt_tokens_details, { cached_tokens: 0, audio_tokens: 0 });
    assert.equal(usage.completion_tokens_details?.reasoning_tokens, 0);
    // The reported completion count is the o200k count of the text actually sent.
    assert.equal(countTextTokens(choice.message.content ?? ''), 12);
    const stats = sim.stats();
    assert.equal(stats.requests, 1);
    assert.equal(stats.promptTokens, usage.prompt_tokens);
    assert.equal(stats.completionTokens, 12);
    assert.equal(stats.totalTokens, usage.total_tokens);
    assert.equal(stats.lastRequest?.path, '/v1/chat/completions');
    assert.equal(stats.lastRequest.headers.authorization, 'Bearer sk-test');
    assert.deepEqual(asRecord(stats.lastRequest.body).messages, messages);
  });

  it('counts prompt tokens deterministically from the messages', async () => {
    const a = await client.chat.completions.create({ model: 'gpt-4o', messages });
    const b = await client.chat.completions.create({ model: 'gpt-4o', messages });
    const longer = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [...messages, { role: 'user', content: 'And another colour, please.' }],
    });
    assert.equal(a.usage?.prompt_tokens, b.usage?.prompt_tokens);
    assert.ok((longer.usage?.prompt_tokens ?? 0) > (a.usage?.prompt_tokens ?? 0));
  });

  it('honours n: one usage block covering every choice', async () => {
    const completion = await client.chat.completions.create({ model: 'gpt-4o', messages, n: 3 });
    assert.deepEqual(
      completion.choices.map((c) => c.index),
      [0, 1, 2],
    );
    assert.equal(completion.usage?.completion_tokens, 36);
    assert.equal(sim.stats().completionTokens, 36);
  });

  it('stops at max_tokens / max_completion_tokens with finish_reason length', async () => {
    const a = await client.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 5 });
    const b = await client.chat.completions.create({ model: 'gpt-4o', messages, max_completion_tokens: 4 });
    assert.equal(a.choices[0]?.finish_reason, 'length');
    assert.equal(a.usage?.completion_tokens, 5);
    assert.equal(b.usage?.completion_tokens, 4);
    const big = await client.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 500 });
    assert.equal(big.choices[0]?.finish_reason, 'stop');
    assert.equal(big.usage?.completion_tokens, 12);
  });

  it('streams without any usage key when include_usage is not set', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages, stream: true });
    let text = '';
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      assert.equal('usage' in chunk, false, 'no usage key without include_usage');
      assert.equal(chunk.object, 'chat.completion.chunk');
      assert.equal(chunk.choices.length, 1);
      text += chunk.choices[0]?.delta.content ?? '';
    }
    assert.equal(chunks, 1 + 12 + 1, 'role chunk, one chunk per token, finish chunk');
    assert.equal(countTextTokens(text), 12);
    assert.equal(sim.stats().completionTokens, 12, 'the simulator still bills what it generated');
  });

  it('streams usage: null in every chunk and a final choices: [] usage chunk with include_usage', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages,
      n: 2,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const last = chunks.at(-1);
    assert.ok(last?.usage);
    assert.deepEqual(last.choices, []);
    for (const chunk of chunks.slice(0, -1)) assert.equal(chunk.usage, null);
    assert.equal(last.usage.completion_tokens, 24);
    const finishes = chunks.flatMap((c) =>
      c.choices.filter((ch) => ch.finish_reason !== null).map((ch) => ch.index),
    );
    assert.deepEqual(finishes, [0, 1]);
    const stats = sim.stats();
    assert.equal(stats.promptTokens, last.usage.prompt_tokens);
    assert.equal(stats.completionTokens, last.usage.completion_tokens);
    assert.equal(stats.totalTokens, last.usage.total_tokens);
  });

  it('frames the stream exactly like the API: data lines, blank line, [DONE]', async () => {
    const res = await postJson(`${sim.url}/chat/completions`, {
      model: 'gpt-4o',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
    assert.ok(res.text.endsWith('\n\ndata: [DONE]\n\n'));
    const events = parseSse(res.text);
    assert.ok(events.every((e) => e.event === undefined));
    const chunks = jsonEvents(res.text);
    const usageChunks = chunks.filter((c) => c.usage !== null);
    assert.equal(usageChunks.length, 1);
    assert.deepEqual(usageChunks[0]?.choices, []);
    assert.equal(asRecord(usageChunks[0]?.usage).completion_tokens, 12);
  });
});
