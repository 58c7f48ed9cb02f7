import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startCaptureServer, readCapture, type CaptureServer } from '../helpers/capture-server.js';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { readLedgerRows, type LedgerRow } from '../helpers/ledger-rows.js';

const KEY = 'team-a-key-123';

let upstream: CaptureServer;
let gw: GatewayProcess;

before(async () => {
  upstream = await startCaptureServer();
  gw = await startGatewayProcess({
    backends: [
      { id: 'upstream', type: 'openai', url: `${upstream.url}/v1`, apiKey: 'sk-backend-secret' },
      { id: 'azure-up', type: 'azure-openai', url: upstream.url, apiKey: 'azure-backend-secret' },
      { id: 'compat', type: 'openai', url: `${upstream.url}/v1`, streamUsage: 'never' },
    ],
    apis: [
      { id: 'openai', path: '/openai/v1', type: 'openai', backend: 'upstream' },
      { id: 'azure', path: '/azure', type: 'azure-openai', backend: 'azure-up' },
      { id: 'compat', path: '/compat/v1', type: 'openai', backend: 'compat' },
    ],
    products: [{ id: 'std', apis: ['openai', 'azure', 'compat'] }],
    subscriptions: [{ id: 'team-a', key: KEY, product: 'std' }],
  });
});

after(async () => {
  await gw.stop();
  await upstream.close();
});

async function call(
  path: string,
  body: unknown,
  headers: Record<string, string> = { authorization: `Bearer ${KEY}` },
): Promise<{ status: number; bytes: Buffer }> {
  const res = await fetch(gw.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) };
}

function lastRecord(): LedgerRow {
  const rows = readLedgerRows(gw.ledgerPath);
  const row = rows.at(-1);
  assert.ok(row, 'a record was written');
  return row;
}

function counts(row: LedgerRow): (number | null)[] {
  return [
    row.prompt_tokens,
    row.completion_tokens,
    row.total_tokens,
    row.cached_tokens,
    row.cache_write_tokens,
    row.reasoning_tokens,
  ].map((v) => (v === undefined ? null : (v as number | null)));
}

/** Removes the one SSE event that carries the usage-only chunk (choices: [] and a usage object). */
function withoutUsageEvent(sse: string): string {
  return sse
    .split(/(?<=\n\n)/)
    .filter((event) => !(/"choices":\s*\[\]/.test(event) && /"usage":\s*\{/.test(event)))
    .join('');
}

describe('captures replayed through a gateway process', () => {
  test('chat stream, client asked for usage: bytes unchanged, exact counts', async () => {
    upstream.reply({ file: 'openai-chat-stream-usage.sse' });
    const res = await call('/openai/v1/chat/completions', {
      model: 'o4-mini',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(res.bytes, readCapture('openai-chat-stream-usage.sse'));
    const row = lastRecord();
    assert.deepEqual(counts(row), [12, 100, 112, 0, null, 100]);
    assert.equal(row.source, 'reported');
    assert.equal(row.stream, 1);
    assert.equal(row.operation, 'chat.completions');
  });

  test('chat stream, client did not ask for usage: usage requested upstream, usage chunk removed', async () => {
    upstream.reply({ file: 'openai-chat-stream-toolcall-usage.sse' });
    const res = await call('/openai/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    const sent = JSON.parse(upstream.received.at(-1)?.body ?? '{}') as {
      stream_options?: { include_usage?: boolean };
    };
    assert.equal(sent.stream_options?.include_usage, true);
    const capture = readCapture('openai-chat-stream-toolcall-usage.sse').toString();
    assert.equal(res.bytes.toString(), withoutUsageEvent(capture));
    assert.notEqual(res.bytes.toString(), capture);
    assert.deepEqual(counts(lastRecord()), [53, 15, 68, 0, null, 0]);
  });

  test('azure deployment stream with content-filter chunks', async () => {
    upstream.reply({ file: 'azure-chat-stream-filter-usage.sse' });
    const res = await call(
      '/azure/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21',
      { messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } },
      { 'api-key': KEY },
    );
    assert.deepEqual(res.bytes, readCapture('azure-chat-stream-filter-usage.sse'));
    const received = upstream.received.at(-1);
    assert.equal(received?.url, '/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21');
    assert.equal(received?.headers['api-key'], 'azure-backend-secret');
    const row = lastRecord();
    assert.deepEqual(counts(row), [15, 78, 93, 0, null, 64]);
    assert.equal(row.model, 'my-gpt');
    assert.equal(row.api, 'azure');
    assert.equal(row.provider, 'azure-openai');
  });

  test('responses stream: usage from response.completed', async () => {
    upstream.reply({ file: 'openai-responses-stream-cached-reasoning.sse' });
    const res = await call('/openai/v1/responses', { model: 'gpt-5', input: 'search', stream: true });
    assert.deepEqual(res.bytes, readCapture('openai-responses-stream-cached-reasoning.sse'));
    assert.deepEqual(counts(lastRecord()), [9463, 582, 10045, 8320, null, 512]);
    assert.equal(lastRecord().operation, 'responses');
  });

  const nonStreamed: [string, string, unknown, (number | null)[]][] = [
    [
      'openai-chat-nonstream.json',
      '/openai/v1/chat/completions',
      { model: 'gpt-4.1-nano', messages: [] },
      [16, 363, 379, 0, null, 0],
    ],
    [
      'openai-chat-nonstream-toolcall-reasoning.json',
      '/openai/v1/chat/completions',
      { model: 'gpt-5-nano', messages: [] },
      [162, 219, 381, 0, null, 192],
    ],
    [
      'openai-chat-nonstream-n3.json',
      '/openai/v1/chat/completions',
      { model: 'gpt-4o', n: 3, messages: [] },
      [79, 44, 123, null, null, 0],
    ],
    [
      'openai-completions-nonstream.json',
      '/openai/v1/completions',
      { model: 'gpt-3.5-turbo-instruct', prompt: 'x' },
      [14, 16, 30, null, null, null],
    ],
    [
      'openai-embeddings.json',
      '/openai/v1/embeddings',
      { model: 'text-embedding-3-small', input: 'x' },
      [5, null, 5, null, null, null],
    ],
    [
      'openai-responses-nonstream.json',
      '/openai/v1/responses',
      { model: 'gpt-5-mini', input: 'x' },
      [3700, 741, 4441, 2560, null, 640],
    ],
    [
      'azure-chat-nonstream.json',
      '/azure/openai/deployments/gpt-5-nano/chat/completions?api-version=2024-12-01-preview',
      { messages: [] },
      [8, 271, 279, 0, null, 192],
    ],
  ];
  for (const [file, path, body, expected] of nonStreamed) {
    test(`non-streamed ${file}: bytes unchanged, exact counts`, async () => {
      upstream.reply({ file });
      const res = await call(path, body);
      assert.equal(res.status, 200);
      assert.deepEqual(res.bytes, readCapture(file));
      assert.deepEqual(counts(lastRecord()), expected);
    });
  }

  test('upstream 400 passes through, recorded with its status and no tokens', async () => {
    upstream.reply({ file: 'openai-chat-error-400.json', status: 400 });
    const res = await call('/openai/v1/chat/completions', { model: 'gpt-4o', messages: [] });
    assert.equal(res.status, 400);
    assert.deepEqual(res.bytes, readCapture('openai-chat-error-400.json'));
    const row = lastRecord();
    assert.equal(row.status, 400);
    assert.deepEqual(counts(row), [null, null, null, null, null, null]);
  });

  test('backend that must not get stream_options: no injection, tokens estimated', async () => {
    upstream.reply({ file: 'openai-chat-stream-no-usage.sse' });
    const res = await call('/compat/v1/chat/completions', {
      model: 'llama3',
      messages: [{ role: 'user', content: 'Tell me a story' }],
      stream: true,
    });
    assert.deepEqual(res.bytes, readCapture('openai-chat-stream-no-usage.sse'));
    const sent = JSON.parse(upstream.received.at(-1)?.body ?? '{}') as { stream_options?: unknown };
    assert.equal(sent.stream_options, undefined);
    const row = lastRecord();
    assert.equal(row.source, 'estimated');
    assert.ok((row.completion_tokens as number) > 0);
    assert.ok((row.prompt_tokens as number) > 0);
  });

  test('a non-streamed answer without usage (some compatible servers): tokens estimated', async () => {
    const answer = JSON.stringify({
      id: 'cmpl-1',
      object: 'chat.completion',
      model: 'llama3',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Once upon a time there was a gateway.' },
          finish_reason: 'stop',
        },
      ],
    });
    upstream.reply({ file: 'none.json', text: answer });
    const res = await call('/compat/v1/chat/completions', {
      model: 'llama3',
      messages: [{ role: 'user', content: 'Tell me a story' }],
    });
    assert.equal(res.bytes.toString(), answer);
    const row = lastRecord();
    assert.equal(row.source, 'estimated');
    assert.ok((row.prompt_tokens as number) > 0);
    assert.ok((row.completion_tokens as number) >= 8);
    assert.equal(row.total_tokens, (row.prompt_tokens as number) + (row.completion_tokens as number));
  });

  test('upstream stream cut mid-event: client gets what was sent, record kept as partial', async () => {
    const capture = readCapture('openai-chat-stream-usage.sse');
    upstream.reply({ file: 'openai-chat-stream-usage.sse', cutAfter: Math.floor(capture.length / 2) + 7 });
    const before = readLedgerRows(gw.ledgerPath).length;
    const res = await fetch(`${gw.url}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'o4-mini',
        messages: [],
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    assert.equal(res.status, 200);
    const received: Buffer[] = [];
    await assert.rejects(async () => {
      for await (const chunk of res.body ?? []) received.push(Buffer.from(chunk as Uint8Array));
    });
    const got = Buffer.concat(received);
    assert.deepEqual(got, capture.subarray(0, got.length));
    const rows = readLedgerRows(gw.ledgerPath);
    assert.equal(rows.length, before + 1);
    assert.equal(rows.at(-1)?.source, 'partial');
    assert.equal(rows.at(-1)?.status, 200);
  });

  test('subscription key never reaches the backend; backend key does', async () => {
    upstream.reply({ file: 'openai-chat-nonstream.json' });
    await call(
      '/openai/v1/chat/completions',
      { model: 'm', messages: [] },
      { authorization: `Bearer ${KEY}`, 'ocp-apim-subscription-key': KEY },
    );
    const received = upstream.received.at(-1);
    assert.equal(received?.headers.authorization, 'Bearer sk-backend-secret');
    assert.equal(received?.headers['ocp-apim-subscription-key'], undefined);
    assert.ok(!JSON.stringify(received?.headers).includes(KEY));
  });
});
