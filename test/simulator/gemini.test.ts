import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { countTextTokens } from '../../src/simulator/text.js';
import { geminiAdapter } from '../../src/providers/gemini/index.js';
import { asRecord, postJson } from './helpers.js';

const body = {
  systemInstruction: { parts: [{ text: 'Be brief.' }] },
  contents: [{ role: 'user', parts: [{ text: 'Name a colour.' }] }],
};
const PROMPT = countTextTokens('Be brief.') + countTextTokens('Name a colour.');
const MODEL_PATH = '/v1beta/models/gemini-2.5-flash';

interface Chunk {
  candidates: { content: { parts: { text: string }[]; role: string }; finishReason?: string }[];
  usageMetadata: Record<string, number>;
  modelVersion: string;
}

/** The chunks of a CRLF-framed `alt=sse` body. */
function sseChunks(text: string): Chunk[] {
  const events = text.split('\r\n\r\n');
  assert.equal(events.pop(), '', 'every event ends with CRLF CRLF');
  return events.map((e) => {
    assert.ok(e.startsWith('data: '), e);
    return JSON.parse(e.slice(6)) as Chunk;
  });
}

/** The usage a tap of `subPath` reads from `text`, as the gateway would. */
function tapUsage(
  subPath: string,
  text: string,
): ReturnType<typeof geminiAdapter.extractUsage> & { completed: boolean } {
  const route = geminiAdapter.matchRoute('POST', subPath);
  assert.ok(route);
  const tap = geminiAdapter.createStreamTap(route, { stripUsageChunk: false });
  tap.push(Buffer.from(text));
  tap.flush();
  const result = tap.result();
  return {
    usage: result.usage,
    completed: result.completed,
    ...(result.responseModel ? { responseModel: result.responseModel } : {}),
  };
}

describe('simulator: Gemini API', () => {
  let sim: Simulator;
  before(async () => {
    sim = await startSimulator({ completionTokens: 6 });
  });
  after(() => sim.close());
  beforeEach(() => sim.resetStats());

  it('generateContent: the real shape, deterministic usage, stats equal to usageMetadata', async () => {
    const res = await postJson(`${sim.url}${MODEL_PATH}:generateContent`, body, { 'x-goog-api-key': 'k' });
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const answer = JSON.parse(res.text) as Chunk;
    const candidate = answer.candidates[0];
    assert.equal(candidate?.finishReason, 'STOP');
    assert.equal(candidate.content.role, 'model');
    assert.equal(countTextTokens(candidate.content.parts[0]?.text ?? ''), 6);
    assert.deepEqual(answer.usageMetadata.promptTokenCount, PROMPT);
    assert.equal(answer.usageMetadata.candidatesTokenCount, 6);
    assert.equal(answer.usageMetadata.totalTokenCount, PROMPT + 6);
    assert.equal(answer.usageMetadata.thoughtsTokenCount, undefined, 'no thinking unless asked');
    assert.equal(answer.modelVersion, 'gemini-2.5-flash');
    const again = JSON.parse((await postJson(`${sim.url}${MODEL_PATH}:generateContent`, body)).text) as Chunk;
    assert.deepEqual(again.candidates, answer.candidates);
    const stats = sim.stats();
    assert.deepEqual(
      [stats.requests, stats.promptTokens, stats.completionTokens, stats.errors],
      [2, 2 * PROMPT, 12, 0],
    );
    assert.equal(stats.lastRequest?.headers['x-goog-api-key'], undefined);
  });

  it('thinkingConfig adds thoughtsTokenCount; stats count it as completion; maxOutputTokens truncates', async () => {
    const thinking = {
      ...body,
      generationConfig: { maxOutputTokens: 4, thinkingConfig: { thinkingBudget: 10 } },
    };
    const answer = JSON.parse(
      (await postJson(`${sim.url}${MODEL_PATH}:generateContent`, thinking)).text,
    ) as Chunk;
    assert.equal(answer.candidates[0]?.finishReason, 'MAX_TOKENS');
    assert.deepEqual(
      [
        answer.usageMetadata.candidatesTokenCount,
        answer.usageMetadata.thoughtsTokenCount,
        answer.usageMetadata.totalTokenCount,
      ],
      [4, 10, PROMPT + 14],
    );
    assert.deepEqual(
      [sim.stats().promptTokens, sim.stats().completionTokens, sim.stats().totalTokens],
      [PROMPT, 14, PROMPT + 14],
    );
    const off = { ...body, generationConfig: { thinkingConfig: { thinkingBudget: 0 } } };
    const plain = JSON.parse((await postJson(`${sim.url}${MODEL_PATH}:generateContent`, off)).text) as Chunk;
    assert.equal(plain.usageMetadata.thoughtsTokenCount, undefined);
  });

  it('streamGenerateContent?alt=sse: CRLF events, cumulative usage, finishReason on the last', async () => {
    const thinking = { ...body, generationConfig: { thinkingConfig: {} } };
    const path = `${MODEL_PATH}:streamGenerateContent?alt=sse`;
    const res = await postJson(sim.url + path, thinking);
    assert.equal(res.headers['content-type'], 'text/event-stream');
    const chunks = sseChunks(res.text);
    assert.equal(chunks.length, 7);
    assert.deepEqual(
      chunks.map((c) => c.usageMetadata.candidatesTokenCount),
      [1, 2, 3, 4, 5, 6, 6],
    );
    assert.ok(chunks.every((c) => c.usageMetadata.thoughtsTokenCount === 16));
    assert.deepEqual(
      chunks.map((c) => c.candidates[0]?.finishReason),
      [...Array<undefined>(6), 'STOP'],
    );
    const text = chunks.map((c) => c.candidates[0]?.content.parts[0]?.text ?? '').join('');
    assert.equal(countTextTokens(text), 6);
    const read = tapUsage(path, res.text);
    assert.deepEqual(read.usage, {
      promptTokens: PROMPT,
      completionTokens: 22,
      totalTokens: PROMPT + 22,
      reasoningTokens: 16,
    });
    assert.equal(read.completed, true);
    assert.deepEqual([sim.stats().promptTokens, sim.stats().completionTokens], [PROMPT, 22]);
  });

  it('streamGenerateContent without alt: one streamed JSON array, application/json', async () => {
    const path = `${MODEL_PATH}:streamGenerateContent`;
    const res = await postJson(sim.url + path, body);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.ok(res.text.startsWith('[{') && res.text.endsWith('}]') && res.text.includes('},\r\n{'));
    const chunks = JSON.parse(res.text) as Chunk[];
    assert.equal(chunks.length, 7);
    assert.equal(chunks.at(-1)?.usageMetadata.totalTokenCount, PROMPT + 6);
    assert.deepEqual(tapUsage(path, res.text), {
      usage: { promptTokens: PROMPT, completionTokens: 6, totalTokens: PROMPT + 6 },
      completed: true,
      responseModel: 'gemini-2.5-flash',
    });
  });

  it('countTokens answers totalTokens and adds nothing to the token stats', async () => {
    for (const request of [body, { generateContentRequest: { model: 'models/gemini-2.5-flash', ...body } }]) {
      const res = await postJson(`${sim.url}${MODEL_PATH}:countTokens`, request);
      assert.equal(res.status, 200);
      assert.equal(asRecord(JSON.parse(res.text)).totalTokens, PROMPT);
    }
    const stats = sim.stats();
    assert.deepEqual([stats.requests, stats.totalTokens, stats.errors], [2, 0, 0]);
  });

  it('serves the v1 and Vertex AI paths', async () => {
    for (const path of [
      '/v1/models/gemini-2.0-flash:generateContent',
      '/v1/projects/p1/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent',
      '/v1beta1/projects/p1/locations/global/publishers/google/models/gemini-2.0-flash:generateContent',
    ]) {
      const res = await postJson(sim.url + path, body);
      assert.equal(res.status, 200, path);
      assert.equal(asRecord(JSON.parse(res.text)).modelVersion, 'gemini-2.0-flash');
    }
  });

  it('errors in Google shape: bad bodies, x-simulator-fail 500 / 429', async () => {
    const cases = [
      { request: { contents: [] }, headers: {}, code: 400, status: 'INVALID_ARGUMENT' },
      { request: body, headers: { 'x-simulator-fail': '500' }, code: 500, status: 'INTERNAL' },
      { request: body, headers: { 'x-simulator-fail': '429' }, code: 429, status: 'RESOURCE_EXHAUSTED' },
      { request: body, headers: { 'x-simulator-fail': 'nope' }, code: 400, status: 'INVALID_ARGUMENT' },
    ];
    for (const c of cases) {
      const res = await postJson(`${sim.url}${MODEL_PATH}:generateContent`, c.request, c.headers);
      assert.equal(res.status, c.code);
      const error = asRecord(asRecord(JSON.parse(res.text)).error);
      assert.equal(error.code, c.code);
      assert.equal(error.status, c.status);
      assert.equal(typeof error.message, 'string');
    }
    assert.deepEqual([sim.stats().errors, sim.stats().totalTokens], [4, 0]);
  });

  it('stream failures: stream-error ends with an error object, invalid-json adds a malformed chunk', async () => {
    const sse = await postJson(`${sim.url}${MODEL_PATH}:streamGenerateContent?alt=sse`, body, {
      'x-simulator-fail': 'stream-error',
    });
    const chunks = sseChunks(sse.text) as unknown[];
    assert.equal(chunks.length, 4);
    assert.equal(asRecord(asRecord(chunks[3]).error).status, 'INTERNAL');
    const array = await postJson(`${sim.url}${MODEL_PATH}:streamGenerateContent`, body, {
      'x-simulator-fail': 'stream-error',
    });
    const elements = JSON.parse(array.text) as unknown[];
    assert.equal(asRecord(asRecord(elements[3]).error).code, 500);
    const malformed = await postJson(`${sim.url}${MODEL_PATH}:streamGenerateContent`, body, {
      'x-simulator-fail': 'invalid-json',
    });
    assert.throws(() => JSON.parse(malformed.text) as unknown);
    // The malformed element is balanced: a scanner still reads the final usage after it.
    assert.equal(
      tapUsage(`${MODEL_PATH}:streamGenerateContent`, malformed.text).usage.totalTokens,
      PROMPT + 6,
    );
    assert.deepEqual([sim.stats().errors, sim.stats().totalTokens], [3, 0]);
  });
});
