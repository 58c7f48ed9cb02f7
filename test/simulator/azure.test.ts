import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import OpenAI, { AzureOpenAI } from 'openai';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { asRecord, jsonEvents, postJson } from './helpers.js';

const messages = [{ role: 'user' as const, content: 'What is the capital of Denmark?' }];

describe('simulator: Azure OpenAI routes', () => {
  let sim: Simulator;
  let azure: AzureOpenAI;
  before(async () => {
    sim = await startSimulator({ completionTokens: 6 });
    azure = new AzureOpenAI({
      endpoint: sim.url,
      apiKey: 'azure-key',
      apiVersion: '2024-10-21',
      deployment: 'gpt-4o',
      maxRetries: 0,
    });
  });
  after(() => sim.close());
  beforeEach(() => sim.resetStats());

  it('serves deployments with prompt_filter_results and per-choice content_filter_results', async () => {
    const completion = await azure.chat.completions.create({ model: '', messages });
    const raw = asRecord(completion);
    assert.ok(Array.isArray(raw.prompt_filter_results));
    assert.equal(asRecord(raw.prompt_filter_results[0]).prompt_index, 0);
    assert.ok(asRecord(completion.choices[0]).content_filter_results);
    assert.equal(completion.model, 'gpt-4o', 'the deployment names the model when the body has none');
    assert.equal(completion.usage?.completion_tokens, 6);
    const last = sim.stats().lastRequest;
    assert.equal(last?.path, '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21');
    assert.equal(last.headers['api-key'], 'azure-key');
    assert.equal(sim.stats().completionTokens, 6);
  });

  it('starts Azure streams with the prompt filter chunk: choices [], no usage key', async () => {
    const stream = await azure.chat.completions.create({
      model: '',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(asRecord(chunk));
    const first = chunks[0];
    assert.ok(first);
    assert.deepEqual(first.choices, []);
    assert.equal(first.id, '');
    assert.equal(first.created, 0);
    assert.ok('prompt_filter_results' in first);
    assert.equal('usage' in first, false);
    for (const chunk of chunks.slice(1, -1)) assert.equal(chunk.usage, null);
    const usage = asRecord(chunks.at(-1)?.usage);
    assert.equal(usage.completion_tokens, 6);
    assert.equal(sim.stats().promptTokens, usage.prompt_tokens);
  });

  it('serves Azure embeddings and the v1 API under /openai/v1', async () => {
    const embeddings = await azure.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' });
    assert.equal(embeddings.data[0]?.embedding.length, 1536);
    const v1 = new OpenAI({ baseURL: `${sim.url}/openai/v1`, apiKey: 'azure-key', maxRetries: 0 });
    const completion = await v1.chat.completions.create({ model: 'gpt-4o', messages });
    assert.ok('prompt_filter_results' in asRecord(completion));
    const response = await v1.responses.create({ model: 'gpt-4o', input: 'hi' });
    assert.equal(response.usage?.output_tokens, 6);
  });

  it('serves the Azure Responses route with api-version', async () => {
    const response = await azure.responses.create({ model: 'gpt-4o', input: 'hi' });
    assert.equal(response.status, 'completed');
    assert.equal(sim.stats().lastRequest?.path, '/openai/responses?api-version=2024-10-21');
  });

  it('refuses classic Azure routes without api-version', async () => {
    const res = await postJson(`${sim.url}/openai/deployments/gpt-4o/chat/completions`, { messages });
    assert.equal(res.status, 404);
    assert.ok(asRecord(JSON.parse(res.text)).error);
  });

  it('streams Azure completions with the prompt filter chunk first', async () => {
    const res = await postJson(`${sim.url}/openai/deployments/instruct/completions?api-version=2024-10-21`, {
      prompt: 'hi',
      stream: true,
    });
    const chunks = jsonEvents(res.text);
    assert.deepEqual(chunks[0]?.choices, []);
    assert.ok('prompt_filter_results' in (chunks[0] ?? {}));
    assert.equal(chunks[1]?.model, 'instruct');
  });
});
