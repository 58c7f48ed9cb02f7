// The recorded OpenAI-compatible answers (test/fixtures/captures/openai-compatible) replayed by a
// real upstream HTTP server, in small random chunks, through an in-process gateway with a real
// SQLite ledger: what the client receives and what the ledger records.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { pino } from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { startCaptureServer, type CaptureServer } from '../helpers/capture-server.js';
import { readLedgerRows, type LedgerRow } from '../helpers/ledger-rows.js';
import { readQuirkCapture, readQuirkCaptureJson } from './openai-quirks-cases.js';

const KEY = 'team-quirks-key-1';

let upstream: CaptureServer;
let gateway: Gateway;
let ledgerPath: string;

before(async () => {
  upstream = await startCaptureServer();
  ledgerPath = join(mkdtempSync(join(tmpdir(), 'tokenmeter-quirks-')), 'ledger.db');
  const config = configSchema.parse({
    gateway: { host: '127.0.0.1', port: 0 },
    ledger: `sqlite:${ledgerPath}`,
    backends: [{ id: 'compat', type: 'openai', url: `${upstream.url}/v1`, apiKey: 'sk-compat-backend' }],
    apis: [{ id: 'compat', path: '/compat/v1', type: 'openai', backend: 'compat' }],
    products: [{ id: 'std', apis: ['compat'] }],
    subscriptions: [{ id: 'team-a', key: KEY, product: 'std' }],
  });
  gateway = await startGateway(config, { port: 0, logger: pino({ level: 'silent' }) });
});

after(async () => {
  await gateway.close();
  await upstream.close();
});

/** Replays a capture (or constructed bytes) for the next call. */
function answerWith(file: string, bytes?: Buffer): void {
  upstream.reply({ file, text: (bytes ?? readQuirkCapture(file)).toString('utf8') });
}

async function call(body: Record<string, unknown>): Promise<{ status: number; bytes: Buffer }> {
  const res = await fetch(`${gateway.url}/compat/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) };
}

function lastRecord(): LedgerRow {
  const row = readLedgerRows(ledgerPath).at(-1);
  assert.ok(row, 'a record was written');
  return row;
}

/** prompt, completion, total, cached, reasoning as recorded (null = absent). */
function counts(row: LedgerRow): (number | string | null)[] {
  return [
    row['prompt_tokens'],
    row['completion_tokens'],
    row['total_tokens'],
    row['cached_tokens'],
    row['reasoning_tokens'],
  ].map((v) => v ?? null);
}

function sentUpstream(): { stream_options?: { include_usage?: boolean } } {
  return JSON.parse(upstream.received.at(-1)?.body ?? '{}') as {
    stream_options?: { include_usage?: boolean };
  };
}

const streamed = (model: string): Record<string, unknown> => ({
  model,
  messages: [{ role: 'user', content: 'hi' }],
  stream: true,
});

describe('OpenAI-compatible quirks through a gateway', () => {
  test("xAI reasoning outside completion_tokens (JSON): normalised counts, catalog cost equals xAI's own bill", async () => {
    answerWith('xai-grok3mini-nonstream.json');
    const res = await call({ model: 'grok-3-mini', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(res.status, 200);
    assert.deepEqual(res.bytes, readQuirkCapture('xai-grok3mini-nonstream.json'));
    const row = lastRecord();
    assert.deepEqual(counts(row), [12, 229, 241, 2, 228]);
    assert.equal(row['source'], 'reported');
    assert.equal(row['flags'], null);
    const ticks = (
      readQuirkCaptureJson('xai-grok3mini-nonstream.json')['usage'] as { cost_in_usd_ticks: number }
    ).cost_in_usd_ticks;
    const providerCost = row['provider_cost'];
    assert.equal(typeof providerCost, 'number');
    assert.ok(Math.abs((providerCost as number) - ticks * 1e-10) < 1e-15);
    // The catalog prices the normalised counts (reasoning billed as output) at what xAI billed.
    const cost = row['cost'];
    assert.equal(typeof cost, 'number');
    assert.ok(
      Math.abs((cost as number) - (providerCost as number)) < 1e-9,
      `${String(cost)} vs ${String(providerCost)}`,
    );
  });

  test('xAI stream, client did not ask for usage: asked upstream, usage-only chunk removed, reasoning counted', async () => {
    answerWith('xai-grok3mini-stream.sse');
    const res = await call(streamed('grok-3-mini'));
    assert.equal(sentUpstream().stream_options?.include_usage, true);
    const capture = readQuirkCapture('xai-grok3mini-stream.sse').toString();
    const expected = capture
      .split(/(?<=\n\n)/)
      .filter((event) => !event.includes('"choices":[],"usage":{'))
      .join('');
    assert.notEqual(expected, capture);
    assert.equal(res.bytes.toString(), expected);
    assert.deepEqual(counts(lastRecord()), [12, 291, 303, 11, 290]);
  });

  test('Groq x_groq.usage and usage in one chunk: counted once, the chunk (with choices) forwarded', async () => {
    answerWith('groq-stream-xgroq-and-usage.sse');
    const res = await call(streamed('openai/gpt-oss-120b'));
    assert.deepEqual(res.bytes, readQuirkCapture('groq-stream-xgroq-and-usage.sse'));
    assert.deepEqual(counts(lastRecord()), [343, 180, 523, null, 153]);
  });

  test('Groq usage only in x_groq.usage: read', async () => {
    answerWith('groq-stream-xgroq-only.sse');
    const res = await call({
      ...streamed('deepseek-r1-distill-llama-70b'),
      stream_options: { include_usage: true },
    });
    assert.deepEqual(res.bytes, readQuirkCapture('groq-stream-xgroq-only.sse'));
    const row = lastRecord();
    assert.deepEqual(counts(row), [21, 988, 1009, null, null]);
    assert.equal(row['source'], 'reported');
  });

  test('running totals on every chunk (Perplexity), client did not ask for usage: stream unchanged, last total recorded', async () => {
    answerWith('perplexity-stream-running-usage.sse');
    const res = await call(streamed('sonar'));
    assert.equal(sentUpstream().stream_options?.include_usage, true);
    assert.deepEqual(res.bytes, readQuirkCapture('perplexity-stream-running-usage.sse'));
    assert.deepEqual(counts(lastRecord()), [11, 434, 445, null, null]);
  });

  test('vLLM continuous_usage_stats shape (constructed): only the usage-only chunk the gateway provoked is removed', async () => {
    // Not a recording: the Perplexity capture plus the usage-only chunk include_usage adds on vLLM.
    const original = readQuirkCapture('perplexity-stream-running-usage.sse');
    const done = 'data: [DONE]\n\n';
    const usageOnly =
      'data: {"id":"a3d55d44-63f9-4704-bb26-e17be1ddab3a","object":"chat.completion.chunk","created":1770768237,"model":"sonar","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":434,"total_tokens":445}}\n\n';
    const body = original.toString('utf8').slice(0, -done.length) + usageOnly + done;
    answerWith('perplexity-stream-running-usage.sse', Buffer.from(body));
    const res = await call({ ...streamed('sonar'), stream_options: { continuous_usage_stats: true } });
    const sent = sentUpstream();
    assert.deepEqual(sent.stream_options, { include_usage: true, continuous_usage_stats: true });
    assert.deepEqual(res.bytes, original);
    assert.deepEqual(counts(lastRecord()), [11, 434, 445, null, null]);
  });

  test('usage on the last content chunk (DeepSeek), client did not ask: the content chunk is forwarded whole', async () => {
    answerWith('deepseek-stream-usage-on-content-chunk.sse');
    const res = await call(streamed('deepseek-reasoner'));
    assert.equal(sentUpstream().stream_options?.include_usage, true);
    assert.deepEqual(res.bytes, readQuirkCapture('deepseek-stream-usage-on-content-chunk.sse'));
    assert.deepEqual(counts(lastRecord()), [6, 212, 218, 0, 198]);
  });

  test('the openai SDK reads that stream through the gateway (usage on a content chunk is part of the chunk type)', async () => {
    answerWith('deepseek-stream-usage-on-content-chunk.sse');
    const client = new OpenAI({ baseURL: `${gateway.url}/compat/v1`, apiKey: KEY, maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: 'deepseek-reasoner',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    let content = '';
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      content += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.ok(content.length > 0);
    assert.equal(finish, 'stop');
    assert.deepEqual(counts(lastRecord()), [6, 212, 218, 0, 198]);
  });

  test('OpenRouter stream: comment lines relayed, usage on a chunk with choices, cost in the ledger', async () => {
    answerWith('openrouter-stream-comments-cost.sse');
    const res = await call(streamed('anthropic/claude-sonnet-4.5'));
    const capture = readQuirkCapture('openrouter-stream-comments-cost.sse');
    assert.deepEqual(res.bytes, capture);
    assert.equal(
      res.bytes
        .toString()
        .split('\n')
        .filter((l) => l === ': OPENROUTER PROCESSING').length,
      4,
    );
    const row = lastRecord();
    assert.deepEqual(counts(row), [43, 36, 79, 0, 13]);
    assert.equal(row['provider_cost'], 0.000669);
  });

  test('OpenRouter JSON: usage.cost → providerCost', async () => {
    answerWith('openrouter-nonstream-cost.json');
    const res = await call({ model: 'openai/gpt-5-mini', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(res.status, 200);
    const row = lastRecord();
    assert.deepEqual(counts(row), [17, 2177, 2194, 0, 960]);
    assert.equal(
      row['provider_cost'],
      (readQuirkCaptureJson('openrouter-nonstream-cost.json')['usage'] as { cost: number }).cost,
    );
  });

  test('DeepSeek JSON: cache hits counted once', async () => {
    answerWith('deepseek-nonstream-cache-hit.json');
    await call({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] });
    assert.deepEqual(counts(lastRecord()), [563, 116, 679, 512, 60]);
  });

  test('audio input tokens: kept on the record as token details', async () => {
    answerWith('openai-audio-preview-nonstream-audio-input.json');
    await call({ model: 'gpt-4o-audio-preview', messages: [{ role: 'user', content: 'hi' }] });
    const row = lastRecord();
    assert.deepEqual(counts(row), [64, 9, 73, 0, 0]);
    assert.deepEqual(JSON.parse(String(row['token_details'])), { audioPromptTokens: 44 });
    assert.equal(typeof row['cost'], 'number');
  });

  test('a bad cost and contradictory reasoning: the call is screened, the gateway keeps serving', async () => {
    const bad =
      '{"id":"x","object":"chat.completion","model":"grok-3-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"completion_tokens_details":{"reasoning_tokens":500},"cost":-1}}';
    answerWith('bad.json', Buffer.from(bad));
    const res = await call({ model: 'grok-3-mini', messages: [{ role: 'user', content: 'hello' }] });
    assert.equal(res.status, 200);
    assert.equal(res.bytes.toString(), bad);
    const row = lastRecord();
    assert.equal(row['source'], 'estimated');
    assert.ok(String(row['flags']).includes('usage_invalid'));
    assert.equal(row['provider_cost'], null);
    const total = Number(row['prompt_tokens']) + Number(row['completion_tokens']);
    assert.equal(row['total_tokens'], total);
    answerWith('xai-grok3mini-nonstream.json');
    assert.equal((await call({ model: 'grok-3-mini', messages: [] })).status, 200);
  });
});
