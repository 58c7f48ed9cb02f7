import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import OpenAI, { APIError } from 'openai';
import { request } from 'undici';
import { FAIL_HEADER, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { asRecord, postJson } from './helpers.js';

const messages = [{ role: 'user' as const, content: 'hi' }];
const chatBody = { model: 'gpt-4o', messages };

describe('simulator: failures on demand and bad requests', () => {
  let sim: Simulator;
  let client: OpenAI;
  before(async () => {
    sim = await startSimulator({ completionTokens: 10 });
    client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'sk-test', maxRetries: 0 });
  });
  after(() => sim.close());
  beforeEach(() => sim.resetStats());

  const failing = (mode: string): { headers: Record<string, string> } => ({
    headers: { [FAIL_HEADER]: mode },
  });

  for (const [mode, status, type] of [
    ['500', 500, 'server_error'],
    ['429', 429, 'requests'],
  ] as const) {
    it(`answers ${mode} with an OpenAI error body`, async () => {
      const err = await client.chat.completions.create(chatBody, failing(mode)).then(
        () => assert.fail('expected an error'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof APIError);
      assert.equal(err.status, status);
      assert.equal(err.type, type);
      const stats = sim.stats();
      assert.deepEqual([stats.requests, stats.errors, stats.totalTokens], [1, 1, 0]);
    });
  }

  it('sends retry-after with 429', async () => {
    const res = await postJson(`${sim.url}/v1/chat/completions`, chatBody, { [FAIL_HEADER]: '429' });
    assert.equal(res.status, 429);
    assert.equal(res.headers['retry-after'], '1');
    assert.equal(asRecord(asRecord(JSON.parse(res.text)).error).code, 'rate_limit_exceeded');
  });

  it('invalid-json: a 200 whose JSON body does not parse', async () => {
    const res = await postJson(`${sim.url}/v1/chat/completions`, chatBody, { [FAIL_HEADER]: 'invalid-json' });
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /application\/json/);
    assert.throws(() => JSON.parse(res.text) as unknown, SyntaxError);
    await assert.rejects(client.chat.completions.create(chatBody, failing('invalid-json')));
    assert.equal(sim.stats().totalTokens, 0);
  });

  it('invalid-json on a stream: a malformed data frame', async () => {
    const res = await postJson(
      `${sim.url}/v1/chat/completions`,
      { ...chatBody, stream: true },
      { [FAIL_HEADER]: 'invalid-json' },
    );
    assert.equal(res.status, 200);
    const frames = res.text.split('\n\n').filter((f) => f.startsWith('data: {'));
    assert.ok(frames.some((f) => !isJson(f.slice(6))));
  });

  it('cut-stream: the connection drops mid-stream after a few chunks', async () => {
    const stream = await client.chat.completions.create({ ...chatBody, stream: true }, failing('cut-stream'));
    const received: unknown[] = [];
    await assert.rejects(async () => {
      for await (const chunk of stream) received.push(chunk);
    });
    assert.ok(received.length >= 3 && received.length < 12, `got ${received.length} chunks before the cut`);
    const stats = sim.stats();
    assert.deepEqual([stats.requests, stats.errors, stats.completionTokens], [1, 1, 0]);
  });

  it('cut-stream on a JSON answer: fewer bytes than content-length, then a closed socket', async () => {
    const res = await request(`${sim.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [FAIL_HEADER]: 'cut-stream' },
      body: JSON.stringify(chatBody),
    });
    assert.equal(res.statusCode, 200);
    await assert.rejects(res.body.text());
  });

  it('answers unknown routes with 404 and malformed request JSON with 400', async () => {
    assert.equal((await postJson(`${sim.url}/v1/nothing`, {})).status, 404);
    const res = await request(`${sim.url}/v1/chat/completions`, { method: 'POST', body: '{"model":' });
    assert.equal(res.statusCode, 400);
    assert.equal(asRecord(asRecord(await res.body.json()).error).type, 'invalid_request_error');
    assert.equal((await postJson(`${sim.url}/v1/chat/completions`, { model: 'gpt-4o' })).status, 400);
    assert.equal(
      (await postJson(`${sim.url}/v1/chat/completions`, chatBody, { [FAIL_HEADER]: 'typo' })).status,
      400,
    );
    assert.equal(sim.stats().errors, 4);
  });
});

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
