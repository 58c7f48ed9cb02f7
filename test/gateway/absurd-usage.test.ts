import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { MAX_TOKEN_COUNT } from '../../src/usage.js';
import { readLedgerRows, type LedgerRow } from '../helpers/ledger-rows.js';
import { httpAnswer, startRogueBackend, type RogueBackend } from '../helpers/rogue-backend.js';

/**
 * Issue #7, class 6: a backend that reports absurd token counts (1e20, negative, fractional, a
 * string, Infinity, beyond the bound) in any provider format, JSON or streamed, is not billed
 * them: the call is estimated, flagged `usage_invalid`, counted per backend and logged.
 */

const KEY = 'team-absurd-key-1';
/** Raw JSON texts put where a count belongs (1e400 parses to Infinity). */
const INVALID = ['1e20', '-1', '1.5', '"12"', '1e400', String(2 ** 53), String(MAX_TOKEN_COUNT + 1)];
const AT_BOUND = String(MAX_TOKEN_COUNT);

let rogue: RogueBackend;
let gateway: Gateway;
let ledgerPath: string;
const logLines: Record<string, unknown>[] = [];

before(async () => {
  rogue = await startRogueBackend();
  const dir = mkdtempSync(join(tmpdir(), 'tokenmeter-absurd-'));
  ledgerPath = join(dir, 'ledger.db');
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n'))
        if (line !== '') logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const config = configSchema.parse({
    gateway: { host: '127.0.0.1', port: 0 },
    ledger: `sqlite:${ledgerPath}`,
    backends: [
      { id: 'rogue-openai', type: 'openai', url: `${rogue.url}/v1`, apiKey: 'sk-up' },
      { id: 'rogue-azure', type: 'azure-openai', url: rogue.url, apiKey: 'az-up' },
      { id: 'rogue-anthropic', type: 'anthropic', url: rogue.url, apiKey: 'ant-up' },
      { id: 'rogue-gemini', type: 'gemini', url: rogue.url, apiKey: 'g-up' },
    ],
    apis: [
      { id: 'openai', path: '/openai/v1', type: 'openai', backend: 'rogue-openai' },
      { id: 'azure', path: '/azure', type: 'azure-openai', backend: 'rogue-azure' },
      { id: 'anthropic', path: '/anthropic', type: 'anthropic', backend: 'rogue-anthropic' },
      { id: 'gemini', path: '/gemini', type: 'gemini', backend: 'rogue-gemini' },
    ],
    products: [{ id: 'std', apis: ['openai', 'azure', 'anthropic', 'gemini'] }],
    subscriptions: [{ id: 'team-a', key: KEY, product: 'std' }],
  });
  gateway = await startGateway(config, { port: 0, logger: pino({ level: 'warn' }, sink) });
});

after(async () => {
  await gateway.close();
  await rogue.close();
});

const json = (body: string): Buffer => httpAnswer(200, { 'content-type': 'application/json' }, body);
const sse = (events: string[]): Buffer =>
  httpAnswer(200, { 'content-type': 'text/event-stream' }, events.map((e) => `${e}\n\n`).join(''));

const chatRequest = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'hello' }],
});
const chatStreamRequest = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'hello' }],
  stream: true,
  stream_options: { include_usage: true },
});
const chatJson = (v: string): string =>
  `{"id":"c1","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":${v},"completion_tokens":2}}`;
const chatStream = (v: string): Buffer =>
  sse([
    'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"hello there"},"finish_reason":null}],"usage":null}',
    'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}',
    `data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":${v},"completion_tokens":2}}`,
    'data: [DONE]',
  ]);

/** One provider format: where the client calls, what it sends, what the backend answers. */
interface Format {
  name: string;
  backend: string;
  path: string;
  request: string;
  answer(v: string): Buffer;
}

const FORMATS: Format[] = [
  {
    name: 'openai chat, JSON',
    backend: 'rogue-openai',
    path: '/openai/v1/chat/completions',
    request: chatRequest,
    answer: (v) => json(chatJson(v)),
  },
  {
    name: 'openai chat, stream',
    backend: 'rogue-openai',
    path: '/openai/v1/chat/completions',
    request: chatStreamRequest,
    answer: chatStream,
  },
  {
    name: 'openai completions, JSON',
    backend: 'rogue-openai',
    path: '/openai/v1/completions',
    request: JSON.stringify({ model: 'gpt-3.5-turbo-instruct', prompt: 'hello' }),
    answer: (v) =>
      json(
        `{"id":"x","object":"text_completion","model":"gpt-3.5-turbo-instruct","choices":[{"index":0,"text":"hello there","finish_reason":"stop"}],"usage":{"prompt_tokens":${v},"completion_tokens":2}}`,
      ),
  },
  {
    name: 'openai completions, stream',
    backend: 'rogue-openai',
    path: '/openai/v1/completions',
    request: JSON.stringify({
      model: 'gpt-3.5-turbo-instruct',
      prompt: 'hello',
      stream: true,
      stream_options: { include_usage: true },
    }),
    answer: (v) =>
      sse([
        'data: {"id":"x","object":"text_completion","model":"gpt-3.5-turbo-instruct","choices":[{"index":0,"text":"hello there","finish_reason":"stop"}]}',
        `data: {"id":"x","object":"text_completion","model":"gpt-3.5-turbo-instruct","choices":[],"usage":{"prompt_tokens":${v},"completion_tokens":2}}`,
        'data: [DONE]',
      ]),
  },
  {
    name: 'openai embeddings, JSON',
    backend: 'rogue-openai',
    path: '/openai/v1/embeddings',
    request: JSON.stringify({ model: 'text-embedding-3-small', input: 'hello' }),
    answer: (v) =>
      json(
        `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":${v}}}`,
      ),
  },
  {
    name: 'openai responses, JSON',
    backend: 'rogue-openai',
    path: '/openai/v1/responses',
    request: JSON.stringify({ model: 'gpt-4o-mini', input: 'hello' }),
    answer: (v) =>
      json(
        `{"id":"r1","object":"response","model":"gpt-4o-mini","output":[{"type":"message","content":[{"type":"output_text","text":"hello there"}]}],"usage":{"input_tokens":${v},"output_tokens":2}}`,
      ),
  },
  {
    name: 'openai responses, stream',
    backend: 'rogue-openai',
    path: '/openai/v1/responses',
    request: JSON.stringify({ model: 'gpt-4o-mini', input: 'hello', stream: true }),
    answer: (v) =>
      sse([
        'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"hello there"}',
        `event: response.completed\ndata: {"type":"response.completed","response":{"id":"r1","model":"gpt-4o-mini","usage":{"input_tokens":${v},"output_tokens":2}}}`,
      ]),
  },
  {
    name: 'azure chat, JSON',
    backend: 'rogue-azure',
    path: '/azure/openai/deployments/dep-1/chat/completions?api-version=2024-10-21',
    request: chatRequest,
    answer: (v) => json(chatJson(v)),
  },
  {
    name: 'azure chat, stream',
    backend: 'rogue-azure',
    path: '/azure/openai/deployments/dep-1/chat/completions?api-version=2024-10-21',
    request: chatStreamRequest,
    answer: chatStream,
  },
  {
    name: 'anthropic messages, JSON',
    backend: 'rogue-anthropic',
    path: '/anthropic/v1/messages',
    request: JSON.stringify({
      model: 'claude-sonnet-4-5',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'hello' }],
    }),
    answer: (v) =>
      json(
        `{"id":"m1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"hello there"}],"usage":{"input_tokens":${v},"output_tokens":2}}`,
      ),
  },
  {
    name: 'anthropic messages, stream',
    backend: 'rogue-anthropic',
    path: '/anthropic/v1/messages',
    request: JSON.stringify({
      model: 'claude-sonnet-4-5',
      max_tokens: 10,
      stream: true,
      messages: [{ role: 'user', content: 'hello' }],
    }),
    answer: (v) =>
      sse([
        `event: message_start\ndata: {"type":"message_start","message":{"id":"m1","model":"claude-sonnet-4-5","usage":{"input_tokens":${v},"output_tokens":1}}}`,
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hello there"}}',
        'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}',
        'event: message_stop\ndata: {"type":"message_stop"}',
      ]),
  },
  {
    name: 'gemini generateContent, JSON',
    backend: 'rogue-gemini',
    path: '/gemini/v1beta/models/gemini-2.5-flash:generateContent',
    request: JSON.stringify({ contents: [{ parts: [{ text: 'hello' }] }] }),
    answer: (v) => json(geminiChunk(v)),
  },
  {
    name: 'gemini stream, SSE',
    backend: 'rogue-gemini',
    path: '/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse',
    request: JSON.stringify({ contents: [{ parts: [{ text: 'hello' }] }] }),
    answer: (v) => sse([`data: ${geminiChunk(v)}`]),
  },
  {
    name: 'gemini stream, JSON array',
    backend: 'rogue-gemini',
    path: '/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent',
    request: JSON.stringify({ contents: [{ parts: [{ text: 'hello' }] }] }),
    answer: (v) => json(`[${geminiChunk(v)}]`),
  },
];

function geminiChunk(v: string): string {
  return `{"candidates":[{"content":{"role":"model","parts":[{"text":"hello there"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":${v},"candidatesTokenCount":2},"modelVersion":"gemini-2.5-flash"}`;
}

/** Sends one call whose backend answers `answer`; returns the record it left in the ledger. */
async function call(format: Format, answer: Buffer): Promise<LedgerRow> {
  rogue.script(() => [{ write: answer }]);
  const before = readLedgerRows(ledgerPath).length;
  const res = await fetch(gateway.url + format.path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, 'x-api-key': KEY },
    body: format.request,
  });
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  const rows = readLedgerRows(ledgerPath);
  assert.equal(rows.length, before + 1, 'one record per call');
  return rows.at(-1) as LedgerRow;
}

const TOKEN_COLUMNS = [
  'prompt_tokens',
  'completion_tokens',
  'total_tokens',
  'cached_tokens',
  'cache_write_tokens',
  'reasoning_tokens',
];

function assertEstimatedAndFlagged(row: LedgerRow, what: string, generates = true): void {
  assert.equal(row['source'], 'estimated', what);
  assert.equal(row['flags'], 'usage_invalid', what);
  // The tokenizer's counts of "hello" and "hello there": small, never the absurd figure.
  for (const column of TOKEN_COLUMNS) {
    const value = row[column];
    assert.ok(
      value === null || (typeof value === 'number' && value >= 0 && value < 100),
      `${what}: ${column}`,
    );
  }
  assert.ok((row['prompt_tokens'] as number) > 0, `${what}: prompt estimated`);
  // Embeddings generate nothing: their estimated completion is 0.
  assert.equal((row['completion_tokens'] as number) > 0, generates, `${what}: completion estimated`);
}

/** Invalid calls made per backend, for the counter and the log. */
const invalidCalls = new Map<string, number>();
const countInvalid = (backend: string): void => {
  invalidCalls.set(backend, (invalidCalls.get(backend) ?? 0) + 1);
};

describe('absurd counts in every provider format are not billed', () => {
  for (const format of FORMATS) {
    test(`${format.name}: ${INVALID.join(', ')} → estimated, flagged; ${AT_BOUND} → reported`, async () => {
      for (const v of INVALID) {
        const row = await call(format, format.answer(v));
        assertEstimatedAndFlagged(row, `${format.name}, ${v}`, !format.path.endsWith('/embeddings'));
        assert.equal(row['backend'], format.backend);
        countInvalid(format.backend);
      }
      const row = await call(format, format.answer(AT_BOUND));
      assert.equal(row['source'], 'reported');
      assert.equal(row['flags'], null);
      assert.equal(row['prompt_tokens'], MAX_TOKEN_COUNT);
    });
  }

  test('an invalid part cannot hide in a plausible sum: Anthropic -5 cache read + 10 input', async () => {
    const format = FORMATS.find((f) => f.name === 'anthropic messages, JSON') as Format;
    const row = await call(
      format,
      json(
        '{"id":"m1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"hello there"}],"usage":{"input_tokens":10,"cache_read_input_tokens":-5,"output_tokens":2}}',
      ),
    );
    assertEstimatedAndFlagged(row, 'anthropic -5 + 10');
    countInvalid(format.backend);
    const stream = FORMATS.find((f) => f.name === 'anthropic messages, stream') as Format;
    const streamed = await call(
      stream,
      sse([
        'event: message_start\ndata: {"type":"message_start","message":{"id":"m1","model":"claude-sonnet-4-5","usage":{"input_tokens":10,"cache_creation_input_tokens":-5,"output_tokens":1}}}',
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hello there"}}',
        'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":2}}',
        'event: message_stop\ndata: {"type":"message_stop"}',
      ]),
    );
    assertEstimatedAndFlagged(streamed, 'anthropic stream -5 + 10');
    countInvalid(stream.backend);
  });

  test('Gemini sums too: a negative thoughtsTokenCount does not vanish into the completion', async () => {
    const format = FORMATS.find((f) => f.name === 'gemini generateContent, JSON') as Format;
    const row = await call(
      format,
      json(
        '{"candidates":[{"content":{"parts":[{"text":"hello there"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":10,"thoughtsTokenCount":-4}}',
      ),
    );
    assertEstimatedAndFlagged(row, 'gemini thoughts -4');
    countInvalid(format.backend);
  });

  test('a total below prompt + completion is not billed; one above is kept', async () => {
    const format = FORMATS[0] as Format;
    const body = (total: number): string =>
      `{"id":"c1","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hello there"}}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":${total}}}`;
    assertEstimatedAndFlagged(await call(format, json(body(3))), 'total 3 < 15');
    countInvalid(format.backend);
    // Some OpenAI-compatible servers count reasoning outside completion_tokens but in the total.
    const above = await call(format, json(body(40)));
    assert.equal(above['source'], 'reported');
    assert.equal(above['total_tokens'], 40);
    assert.equal(above['flags'], null);
  });

  test('each backend is counted in tokenmeter_usage_invalid_total and named in a warning', async () => {
    const res = await fetch(`${gateway.url}/metrics`);
    const text = await res.text();
    for (const [backend, calls] of invalidCalls) {
      const line = text
        .split('\n')
        .find((l) => l.startsWith(`tokenmeter_usage_invalid_total{backend="${backend}"}`));
      assert.equal(line?.split(' ').at(-1), String(calls), backend);
      const warnings = logLines.filter((l) => l['backend'] === backend && Array.isArray(l['fields']));
      assert.equal(warnings.length, calls, `${backend}: one warning per call`);
    }
    const openAiWarning = logLines.find((l) => l['backend'] === 'rogue-openai' && Array.isArray(l['fields']));
    assert.deepEqual(openAiWarning?.['fields'], ['promptTokens']);
  });
});
