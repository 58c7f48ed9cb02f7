import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { startSimulator } from '../../src/simulator/index.js';
import {
  countInputTokens,
  countMessagesTokens,
  countTextTokens,
  generateTokens,
} from '../../src/simulator/text.js';

describe('simulator: generated text and token counts', () => {
  it('generates N tokens whose o200k count is exactly N, deterministically', () => {
    for (const seed of [0, 1, 2, 7, 99]) {
      for (const count of [0, 1, 2, 5, 24, 100, 513]) {
        const tokens = generateTokens(count, seed);
        assert.equal(tokens.length, count);
        assert.equal(countTextTokens(tokens.join('')), count, `seed ${seed}, count ${count}`);
        assert.deepEqual(generateTokens(count, seed), tokens);
      }
    }
    assert.notDeepEqual(generateTokens(10, 0), generateTokens(10, 1));
  });

  it('counts chat prompts with the documented formula', () => {
    // 3 reply priming + per message (3 + role + text).
    const hi = countTextTokens('hi');
    assert.equal(countMessagesTokens([{ role: 'user', content: 'hi' }]), 3 + 3 + 1 + hi);
    const parts = countMessagesTokens([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'hi' },
          { type: 'image_url', image_url: { url: 'x' } },
        ],
      },
    ]);
    assert.equal(parts, 3 + 3 + 1 + hi);
  });

  it('counts prompts given as strings, batches and token ids', () => {
    assert.equal(countInputTokens('hello world'), countTextTokens('hello world'));
    assert.equal(countInputTokens(['hello', 'world']), 2);
    assert.equal(countInputTokens([1, 2, 3]), 3);
    assert.equal(countInputTokens([[1, 2], [3]]), 3);
  });
});

describe('simulator: pacing', () => {
  it('paces tokens with timers: first bytes at once, the rest spread over completionTokens / tokensPerSecond', async () => {
    const sim = await startSimulator({ tokensPerSecond: 100, completionTokens: 10 });
    try {
      const start = performance.now();
      const res = await request(`${sim.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true }),
      });
      const arrivals: number[] = [];
      let text = '';
      for await (const chunk of res.body) {
        arrivals.push(performance.now() - start);
        text += (chunk as Buffer).toString('utf8');
      }
      const first = arrivals[0] ?? Infinity;
      const last = arrivals.at(-1) ?? 0;
      // Measured from the first bytes, not from the request: a loaded machine may answer late,
      // but pacing still spreads the rest of the 10 tokens over about 100 ms after them.
      assert.ok(last - first >= 80, `the rest came ${last - first} ms after the first chunk`);
      assert.ok(last >= 95, `stream ended after ${last} ms, expected about 100`);
      assert.ok(arrivals.length >= 5, `expected the stream in several writes, got ${arrivals.length}`);
      assert.ok(text.endsWith('data: [DONE]\n\n'));
      assert.equal(sim.stats().completionTokens, 10);
    } finally {
      await sim.close();
    }
  });

  it('stops pacing when the client goes away', async () => {
    const sim = await startSimulator({ tokensPerSecond: 50, completionTokens: 1000 });
    try {
      const controller = new AbortController();
      const res = await request(`${sim.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true }),
        signal: controller.signal,
      });
      await res.body[Symbol.asyncIterator]().next();
      controller.abort();
      // The abort is seen by the server asynchronously.
      for (let i = 0; i < 50 && sim.stats().errors === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(sim.stats().errors, 1);
      assert.equal(sim.stats().completionTokens, 0);
    } finally {
      await sim.close();
    }
  });
});
