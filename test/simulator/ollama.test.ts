// The simulator's Ollama native API: NDJSON streams by default, the counts on the final object
// (deterministic, thinking inside eval_count), embed, legacy embeddings, Ollama's error shape,
// the failure modes (a malformed NDJSON line among them) and paced streams.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { countMessagesTokens, countTextTokens } from '../../src/simulator/text.js';
import { postJson } from './helpers.js';

const messages = [{ role: 'user', content: 'Tell me a joke about OpenTelemetry' }];
let sim: Simulator;

before(async () => {
  sim = await startSimulator({ completionTokens: 6 });
});
after(async () => {
  await sim.close();
});

const objects = (text: string): Record<string, unknown>[] =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('answers', () => {
  test('chat streams NDJSON by default; the final object holds the counts', async () => {
    sim.resetStats();
    const res = await postJson(`${sim.url}/api/chat`, { model: 'llama3', messages });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/x-ndjson');
    const lines = objects(res.text);
    assert.equal(lines.length, 7);
    assert.ok(lines.slice(0, -1).every((l) => l['done'] === false && l['eval_count'] === undefined));
    const last = lines.at(-1) ?? {};
    assert.equal(last['done'], true);
    assert.equal(last['done_reason'], 'stop');
    assert.equal(last['prompt_eval_count'], countMessagesTokens(messages));
    assert.equal(last['eval_count'], 6);
    assert.deepEqual(sim.stats().promptTokens, countMessagesTokens(messages));
  });

  test('stream: false answers one JSON object; num_predict truncates (done_reason length)', async () => {
    const res = await postJson(`${sim.url}/api/generate`, {
      model: 'llama3',
      prompt: 'Why?',
      stream: false,
      options: { num_predict: 2 },
    });
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const body = JSON.parse(res.text) as Record<string, unknown>;
    assert.equal(body['eval_count'], 2);
    assert.equal(body['done_reason'], 'length');
    assert.equal(body['prompt_eval_count'], countTextTokens('Why?'));
    assert.equal(typeof body['response'], 'string');
  });

  test('think: true adds thinking, counted in eval_count', async () => {
    const res = await postJson(`${sim.url}/api/chat`, {
      model: 'qwen3',
      messages,
      think: true,
      stream: false,
    });
    const body = JSON.parse(res.text) as { message: { thinking?: string }; eval_count: number };
    assert.ok((body.message.thinking ?? '').length > 0);
    assert.equal(body.eval_count, 6 + 8);
  });

  test('embed reports prompt_eval_count; legacy embeddings no count', async () => {
    const embed = JSON.parse(
      (await postJson(`${sim.url}/api/embed`, { model: 'e', input: ['a b', 'c'] })).text,
    ) as Record<string, unknown>;
    assert.equal(embed['prompt_eval_count'], countTextTokens('a b') + countTextTokens('c'));
    assert.equal((embed['embeddings'] as unknown[]).length, 2);
    const legacy = JSON.parse(
      (await postJson(`${sim.url}/api/embeddings`, { model: 'e', prompt: 'x' })).text,
    ) as Record<string, unknown>;
    assert.deepEqual(Object.keys(legacy), ['embedding']);
  });

  test('bad requests get Ollama errors: {"error": "..."}', async () => {
    for (const [path, body] of [
      ['/api/chat', { messages }],
      ['/api/generate', { model: 'm' }],
      ['/api/embed', { model: 'm', input: 3 }],
    ] as const) {
      const res = await postJson(`${sim.url}${path}`, body);
      assert.equal(res.status, 400);
      assert.equal(typeof (JSON.parse(res.text) as { error: unknown }).error, 'string');
    }
  });
});

describe('failure modes', () => {
  const fail = (mode: string, body: unknown = { model: 'llama3', messages }) =>
    postJson(`${sim.url}/api/chat`, body, { 'x-simulator-fail': mode });

  test('500 and 429 in Ollama shape', async () => {
    assert.equal((await fail('500')).status, 500);
    const busy = await fail('429');
    assert.equal(busy.status, 429);
    assert.match(busy.text, /^\{"error":/);
  });

  test('invalid-json: a malformed line mid-stream, then the rest with the final object', async () => {
    const res = await fail('invalid-json');
    const lines = res.text.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 8);
    assert.throws(() => JSON.parse(lines[3] ?? ''));
    assert.equal((JSON.parse(lines.at(-1) ?? '') as { done: boolean }).done, true);
  });

  test('stream-error: an error line after three tokens; cut-stream: dropped after three', async () => {
    const errored = objects((await fail('stream-error')).text);
    assert.equal(errored.length, 4);
    assert.equal(typeof errored.at(-1)?.['error'], 'string');
    await assert.rejects(async () => {
      const res = await request(`${sim.url}/api/chat`, {
        method: 'POST',
        headers: { 'x-simulator-fail': 'cut-stream' },
        body: JSON.stringify({ model: 'llama3', messages }),
      });
      await res.body.text();
    });
  });
});

test('a paced stream sends the same lines', async () => {
  const paced = await startSimulator({ completionTokens: 5, tokensPerSecond: 500 });
  try {
    const res = await postJson(`${paced.url}/api/generate`, { model: 'llama3', prompt: 'hi' });
    assert.equal(objects(res.text).length, 6);
    assert.equal(paced.stats().completionTokens, 5);
  } finally {
    await paced.close();
  }
});
