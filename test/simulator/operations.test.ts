import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import OpenAI from 'openai';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { countTextTokens } from '../../src/simulator/text.js';
import { asRecord, parseSse, postJson } from './helpers.js';

describe('simulator: completions, embeddings and responses through the openai SDK', () => {
  let sim: Simulator;
  let client: OpenAI;
  before(async () => {
    sim = await startSimulator({ completionTokens: 8 });
    client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'sk-test', maxRetries: 0 });
  });
  after(() => sim.close());
  beforeEach(() => sim.resetStats());

  it('answers legacy completions with the text_completion shape', async () => {
    const completion = await client.completions.create({
      model: 'gpt-3.5-turbo-instruct',
      prompt: 'Say hello',
    });
    assert.match(completion.id, /^cmpl-/);
    assert.equal(completion.object, 'text_completion');
    assert.equal(completion.choices[0]?.finish_reason, 'stop');
    assert.equal(countTextTokens(completion.choices[0]?.text ?? ''), 8);
    assert.deepEqual(completion.usage, {
      prompt_tokens: countTextTokens('Say hello'),
      completion_tokens: 8,
      total_tokens: countTextTokens('Say hello') + 8,
    });
    assert.equal(sim.stats().totalTokens, completion.usage?.total_tokens);
  });

  it('batches completion prompts and streams them with a usage chunk on request', async () => {
    const stream = await client.completions.create({
      model: 'gpt-3.5-turbo-instruct',
      prompt: ['one', 'two'],
      max_tokens: 3,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const usage = chunks.at(-1)?.usage;
    assert.ok(usage);
    assert.equal(usage.completion_tokens, 6);
    assert.equal(usage.prompt_tokens, 2);
    assert.equal(sim.stats().completionTokens, 6);
  });

  it('returns embeddings as base64 (the SDK default, decoded by it) and as floats, identically', async () => {
    const b64 = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['alpha', 'beta'] });
    assert.equal(asRecord(sim.stats().lastRequest?.body).encoding_format, 'base64');
    assert.equal(b64.object, 'list');
    assert.equal(b64.data.length, 2);
    assert.equal(b64.data[0]?.embedding.length, 1536);
    const floats = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: ['alpha', 'beta'],
      encoding_format: 'float',
      dimensions: 256,
    });
    assert.equal(floats.data[1]?.embedding.length, 256);
    const again = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: ['alpha', 'beta'],
      dimensions: 256,
    });
    assert.deepEqual(again.data[1]?.embedding, floats.data[1]?.embedding);
    const norm = Math.hypot(...(floats.data[0]?.embedding ?? []));
    assert.ok(Math.abs(norm - 1) < 1e-5, 'unit vectors');
    assert.deepEqual(floats.usage, { prompt_tokens: 2, total_tokens: 2 });
    assert.equal(sim.stats().promptTokens, 6);
    assert.equal(sim.stats().completionTokens, 0);
  });

  it('answers the Responses API with input/output usage', async () => {
    const response = await client.responses.create({
      model: 'gpt-4o',
      input: 'Hello there',
      instructions: 'Be brief.',
    });
    assert.match(response.id, /^resp_/);
    assert.equal(response.object, 'response');
    assert.equal(response.status, 'completed');
    assert.equal(countTextTokens(response.output_text), 8);
    const usage = response.usage;
    assert.ok(usage);
    assert.equal(usage.output_tokens, 8);
    assert.equal(usage.total_tokens, usage.input_tokens + 8);
    assert.equal(usage.input_tokens_details.cached_tokens, 0);
    assert.equal(usage.output_tokens_details.reasoning_tokens, 0);
    assert.equal(sim.stats().promptTokens, usage.input_tokens);
  });

  it('marks a Responses answer cut by max_output_tokens as incomplete', async () => {
    const response = await client.responses.create({ model: 'gpt-4o', input: 'Hello', max_output_tokens: 3 });
    assert.equal(response.status, 'incomplete');
    assert.deepEqual(response.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(response.usage?.output_tokens, 3);
  });

  it('streams Responses events from response.created to response.completed with usage', async () => {
    const stream = await client.responses.create({
      model: 'gpt-4o',
      input: [{ role: 'user', content: 'Hi' }],
      stream: true,
    });
    const types: string[] = [];
    let text = '';
    let completedUsage: OpenAI.Responses.ResponseUsage | null | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.created' || event.type === 'response.in_progress') {
        assert.equal(event.response.usage, null);
      }
      if (event.type === 'response.completed') completedUsage = event.response.usage;
    }
    assert.deepEqual(types.slice(0, 4), [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
    ]);
    assert.equal(types.filter((t) => t === 'response.output_text.delta').length, 8);
    assert.deepEqual(types.slice(-4), [
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    assert.equal(countTextTokens(text), 8);
    assert.equal(completedUsage?.output_tokens, 8);
    assert.equal(sim.stats().totalTokens, completedUsage.total_tokens);
  });

  it('frames Responses streams with event: lines and no [DONE]', async () => {
    const res = await postJson(`${sim.url}/responses`, { model: 'gpt-4o', input: 'Hi', stream: true });
    const events = parseSse(res.text);
    for (const e of events) assert.equal(asRecord(JSON.parse(e.data)).type, e.event);
    const numbers = events.map((e) => asRecord(JSON.parse(e.data)).sequence_number);
    assert.deepEqual(
      numbers,
      events.map((_, i) => i),
    );
    assert.ok(!res.text.includes('[DONE]'));
  });
});
