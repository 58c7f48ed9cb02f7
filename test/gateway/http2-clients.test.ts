// HTTP/2 cleartext with prior knowledge (h2c) on the gateway's own port, beside HTTP/1.1: the
// official AWS SDK with only `endpoint` set (its default NodeHttp2Handler), a raw http2 client
// for OpenAI calls (a real upstream records what reached it), HTTP/1.1 on the same port, a
// broken preface, and a stop with an HTTP/2 session open.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
} from '@aws-sdk/client-bedrock-runtime';
import pino from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { readCapture, startCaptureServer, type CaptureServer } from '../helpers/capture-server.js';
import { readLedgerRows, type LedgerRow } from '../helpers/ledger-rows.js';

const KEY = 'team-a-h2-key';
const COMPLETION = 6;
const NOVA = 'us.amazon.nova-micro-v1:0';
const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

function gatewayConfig(upstreamUrl: string, limits: Record<string, number> = {}) {
  return configSchema.parse({
    gateway: { host: '127.0.0.1', port: 0, ...limits },
    backends: [
      { id: 'upstream', type: 'openai', url: `${upstreamUrl}/v1`, apiKey: 'sk-backend-secret' },
      { id: 'sim', type: 'simulator', simulator: { completionTokens: COMPLETION } },
      // 20 tokens at 40 per second: a stream that is still in flight half a second on.
      { id: 'slow', type: 'simulator', simulator: { completionTokens: 20, tokensPerSecond: 40 } },
    ],
    apis: [
      { id: 'openai', path: '/openai/v1', type: 'openai', backend: 'upstream' },
      { id: 'bedrock', path: '/bedrock', type: 'bedrock', backend: 'sim' },
      { id: 'slow', path: '/slow/v1', type: 'openai', backend: 'slow' },
    ],
    products: [{ id: 'std', apis: ['openai', 'bedrock', 'slow'] }],
    subscriptions: [{ id: 'team-a', key: KEY, product: 'std' }],
  });
}

interface Started {
  gw: Gateway;
  dir: string;
  ledgerPath: string;
}

async function start(upstreamUrl: string, limits: Record<string, number> = {}): Promise<Started> {
  const dir = mkdtempSync(join(tmpdir(), 'tm-h2-'));
  const ledgerPath = join(dir, 'ledger.db');
  const gw = await startGateway(gatewayConfig(upstreamUrl, limits), {
    ledgerUrl: `sqlite:${ledgerPath}`,
    logger: pino({ level: 'silent' }),
  });
  return { gw, dir, ledgerPath };
}

/** Rejects when `promise` has not settled within `ms`: every wait here is bounded. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface H2Answer {
  status: number;
  headers: Record<string, unknown>;
  text: string;
}

/** One HTTP/2 request on `session`; resolves with the status, headers and whole body. */
function h2Post(
  session: ClientHttp2Session,
  path: string,
  body: unknown,
  onResponse: () => void = () => undefined,
): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/json',
      authorization: `Bearer ${KEY}`,
    });
    let headers: Record<string, unknown> = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      headers = h;
      onResponse();
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () =>
      resolve({
        status: Number(headers[':status']),
        headers,
        text: Buffer.concat(chunks).toString('utf8'),
      }),
    );
    stream.on('error', reject);
    stream.end(JSON.stringify(body));
  });
}

/** The usage object of a capture: a JSON answer's, or the last SSE event's that carries one. */
function captureUsage(file: string): {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
} {
  const text = readCapture(file).toString('utf8');
  if (!file.endsWith('.sse')) return (JSON.parse(text) as { usage: never }).usage;
  const usages = text
    .split('\n')
    .filter((l) => l.startsWith('data: {'))
    .map((l) => (JSON.parse(l.slice(6)) as { usage?: unknown }).usage)
    .filter((u) => u !== null && u !== undefined);
  return usages.at(-1) as never;
}

function counts(row: LedgerRow | undefined): (string | number | null)[] {
  return [
    row?.operation ?? null,
    row?.stream ?? null,
    row?.prompt_tokens ?? null,
    row?.completion_tokens ?? null,
    row?.total_tokens ?? null,
  ];
}

describe('HTTP/2 cleartext clients on the gateway port', () => {
  let upstream: CaptureServer;
  let s: Started;

  before(async () => {
    upstream = await startCaptureServer();
    s = await start(upstream.url);
  });
  after(async () => {
    await s.gw.close();
    await upstream.close();
    rmSync(s.dir, { recursive: true, force: true });
  });

  test('the official AWS SDK with only endpoint set: Converse and ConverseStream, one exact record each', async () => {
    // No requestHandler: the SDK's default NodeHttp2Handler speaks h2c with prior knowledge.
    const client = new BedrockRuntimeClient({
      endpoint: `${s.gw.url}/bedrock`,
      region: 'us-east-1',
      token: { token: KEY },
      authSchemePreference: ['httpBearerAuth'],
      maxAttempts: 1,
    });
    const before = readLedgerRows(s.ledgerPath).length;
    const messages = [{ role: 'user' as const, content: [{ text: 'Over HTTP/2, please.' }] }];
    const converse = await client.send(new ConverseCommand({ modelId: NOVA, messages }));
    assert.equal(converse.output?.message?.role, 'assistant');
    assert.equal(converse.usage?.outputTokens, COMPLETION);
    const stream = await client.send(new ConverseStreamCommand({ modelId: NOVA, messages }));
    let text = '';
    let streamUsage: unknown;
    for await (const event of stream.stream ?? []) {
      text += event.contentBlockDelta?.delta?.text ?? '';
      if (event.metadata !== undefined) streamUsage = event.metadata.usage;
    }
    client.destroy();
    assert.equal(text, converse.output?.message?.content?.[0]?.text);
    assert.deepEqual(streamUsage, converse.usage);
    const p = converse.usage?.inputTokens ?? 0;
    assert.ok(p > 0);
    const rows = readLedgerRows(s.ledgerPath).slice(before);
    assert.deepEqual(rows.map(counts), [
      ['Converse', 0, p, COMPLETION, p + COMPLETION],
      ['ConverseStream', 1, p, COMPLETION, p + COMPLETION],
    ]);
    assert.ok(rows.every((r) => r.model === NOVA && r.subscription === 'team-a'));
  });

  test('a raw http2 client: OpenAI chat streamed and not, no pseudo-header reaches the upstream', async () => {
    const session = http2Connect(s.gw.url);
    try {
      const before = readLedgerRows(s.ledgerPath).length;
      upstream.reply({ file: 'openai-chat-nonstream.json' });
      const plain = await h2Post(session, '/openai/v1/chat/completions', {
        model: 'gpt-4.1-nano',
        messages: [{ role: 'user', content: 'hi' }],
      });
      assert.equal(plain.status, 200);
      assert.equal(plain.text, readCapture('openai-chat-nonstream.json').toString('utf8'));
      upstream.reply({ file: 'openai-chat-stream-usage.sse' });
      const streamed = await h2Post(session, '/openai/v1/chat/completions', {
        model: 'gpt-5-nano',
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'hi' }],
      });
      assert.equal(streamed.status, 200);
      assert.match(String(streamed.headers['content-type']), /text\/event-stream/);
      assert.ok(streamed.text.endsWith('data: [DONE]\n\n'));

      const sent = upstream.received.slice(-2);
      assert.equal(sent.length, 2);
      for (const req of sent) {
        assert.deepEqual(
          Object.keys(req.headers).filter((h) => h.startsWith(':')),
          [],
        );
        assert.equal(req.headers.authorization, 'Bearer sk-backend-secret');
        assert.equal(req.headers.host, new URL(upstream.url).host);
        assert.equal(req.url, '/v1/chat/completions');
        assert.equal(req.method, 'POST');
      }
      const rows = readLedgerRows(s.ledgerPath).slice(before);
      const u1 = captureUsage('openai-chat-nonstream.json');
      const u2 = captureUsage('openai-chat-stream-usage.sse');
      assert.deepEqual(rows.map(counts), [
        ['chat.completions', 0, u1.prompt_tokens, u1.completion_tokens, u1.total_tokens],
        ['chat.completions', 1, u2.prompt_tokens, u2.completion_tokens, u2.total_tokens],
      ]);
    } finally {
      session.close();
    }
  });

  test('HTTP/1.1 still works on the same port', async () => {
    const res = await within(
      5000,
      'HTTP/1.1 call',
      new Promise<{ status: number; version: string; body: string }>((resolve, reject) => {
        const req = httpRequest(`${s.gw.url}/healthz`, (r) => {
          let body = '';
          r.on('data', (c: Buffer) => (body += c.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, version: r.httpVersion, body }));
        });
        req.on('error', reject);
        req.end();
      }),
    );
    assert.deepEqual(res, { status: 200, version: '1.1', body: '{"status":"ok"}' });
    // A request line that starts like the preface but is not one is HTTP/1.1's to refuse.
    const reply = await rawExchange(s.gw.url, 'PRI * HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 400 /);
  });

  test('garbage after a partial or whole preface ends that connection only', async () => {
    // A partial preface then garbage: not HTTP/2, so HTTP/1.1 refuses it.
    const partial = await rawExchange(s.gw.url, 'PRI * HTTP/2.0\r\n\r\nXX garbage\r\n\r\n');
    assert.match(partial, /^HTTP\/1\.1 400 /);
    // A whole preface then bytes that are no HTTP/2 frame: the session ends with GOAWAY.
    const whole = await rawExchange(s.gw.url, `${PREFACE}\x00\x00\x04\x09garbage-garbage`);
    assert.ok(whole.length > 0, 'the server answered in HTTP/2 frames (SETTINGS, GOAWAY)');
    // The gateway keeps serving both protocols.
    const session = http2Connect(s.gw.url);
    try {
      const health = await within(
        5000,
        'h2 healthz',
        new Promise<number>((resolve, reject) => {
          const stream = session.request({ ':path': '/healthz' });
          stream.on('response', (h) => resolve(Number(h[':status'])));
          stream.on('error', reject);
          stream.resume();
          stream.end();
        }),
      );
      assert.equal(health, 200);
    } finally {
      session.close();
    }
    const res = await fetch(`${s.gw.url}/healthz`);
    assert.equal(res.status, 200);
  });
});

/** Writes `bytes` on a raw TCP connection; resolves with all the server sent until it closed. */
function rawExchange(url: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return within(
    5000,
    'raw exchange',
    new Promise<string>((resolve) => {
      const socket = netConnect(Number(port), hostname);
      let got = '';
      socket.on('error', () => undefined); // a reset ends in 'close'
      socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
      socket.once('close', () => resolve(got));
      socket.write(bytes, 'latin1');
    }),
  );
}

test('close() with an HTTP/2 session open finishes: the session gets GOAWAY', async () => {
  const upstream = await startCaptureServer();
  const s = await start(upstream.url);
  try {
    const session = http2Connect(s.gw.url);
    session.on('error', () => undefined);
    const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
    const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
    // One call first, so that the session is established and then idle on the gateway.
    const health = await within(
      5000,
      'h2 healthz',
      new Promise<number>((resolve, reject) => {
        const stream = session.request({ ':path': '/healthz' });
        stream.on('response', (h) => resolve(Number(h[':status'])));
        stream.on('error', reject);
        stream.resume();
        stream.end();
      }),
    );
    assert.equal(health, 200);
    const summary = await within(5000, 'gateway close', s.gw.close());
    assert.deepEqual(summary, { inFlight: 0, finished: 0, cut: 0 });
    await within(5000, 'client GOAWAY', goaway);
    await within(5000, 'client session close', closed);
  } finally {
    await upstream.close();
    rmSync(s.dir, { recursive: true, force: true });
  }
});

/** A streamed chat call to the paced simulator; `headersIn` resolves once its answer has begun. */
function slowStream(session: ClientHttp2Session): { headersIn: Promise<void>; answer: Promise<H2Answer> } {
  let begun = (): void => undefined;
  const headersIn = new Promise<void>((resolve) => (begun = resolve));
  const answer = h2Post(
    session,
    '/slow/v1/chat/completions',
    { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'slowly' }] },
    begun,
  );
  return { headersIn, answer };
}

test('close() lets an HTTP/2 stream in flight finish, then the session closes', async () => {
  const upstream = await startCaptureServer();
  const s = await start(upstream.url);
  try {
    const session = http2Connect(s.gw.url);
    session.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
    const call = slowStream(session);
    await within(5000, 'answer head', call.headersIn);
    const summary = await within(10_000, 'gateway close', s.gw.close());
    const answer = await within(5000, 'answer', call.answer);
    assert.equal(answer.status, 200);
    assert.ok(answer.text.endsWith('data: [DONE]\n\n'), 'the whole stream arrived');
    assert.deepEqual(summary, { inFlight: 1, finished: 1, cut: 0 });
    await within(5000, 'client session close', closed);
    const rows = readLedgerRows(s.ledgerPath);
    assert.deepEqual(
      rows.map((r) => [r.stream, r.source, r.completion_tokens]),
      [[1, 'reported', 20]],
    );
  } finally {
    await upstream.close();
    rmSync(s.dir, { recursive: true, force: true });
  }
});

test('close() with a deadline cuts an HTTP/2 stream still in flight: recorded partial', async () => {
  const upstream = await startCaptureServer();
  const s = await start(upstream.url);
  try {
    const session = http2Connect(s.gw.url);
    session.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
    const call = slowStream(session);
    const outcome = call.answer.then(
      (a) => a.text,
      () => 'cut',
    );
    await within(5000, 'answer head', call.headersIn);
    const summary = await within(10_000, 'gateway close', s.gw.close({ drainTimeoutMs: 50 }));
    assert.deepEqual(summary, { inFlight: 1, finished: 0, cut: 1 });
    const text = await within(5000, 'answer', outcome);
    assert.ok(!text.endsWith('data: [DONE]\n\n'), 'the stream was cut');
    await within(5000, 'client session close', closed);
    const rows = readLedgerRows(s.ledgerPath);
    assert.deepEqual(
      rows.map((r) => [r.stream, r.source]),
      [[1, 'partial']],
    );
  } finally {
    await upstream.close();
    rmSync(s.dir, { recursive: true, force: true });
  }
});

test('client limits over HTTP/2: body size, request time, silent connections', async () => {
  const upstream = await startCaptureServer();
  const s = await start(upstream.url, { maxBodyBytes: 1000, requestTimeoutMs: 300, headersTimeoutMs: 300 });
  const session = http2Connect(s.gw.url);
  session.on('error', () => undefined);
  try {
    // A body over maxBodyBytes: 413 with the catalogue code, nothing forwarded.
    const big = await h2Post(session, '/openai/v1/chat/completions', {
      model: 'gpt-4.1-nano',
      messages: [{ role: 'user', content: 'x'.repeat(2000) }],
    });
    assert.equal(big.status, 413);
    assert.equal((JSON.parse(big.text) as { error: { code: string } }).error.code, 'TM_BODY_TOO_LARGE');
    assert.equal(upstream.received.length, 0);

    // A body that never ends: 408 once requestTimeoutMs has passed, the session stays usable.
    const status = await within(
      5000,
      'request timeout',
      new Promise<number>((resolve, reject) => {
        const stream = session.request({
          ':method': 'POST',
          ':path': '/openai/v1/chat/completions',
          authorization: `Bearer ${KEY}`,
          'content-type': 'application/json',
        });
        stream.on('response', (h) => resolve(Number(h[':status'])));
        stream.on('error', reject);
        stream.resume();
        stream.write('{"model":');
      }),
    );
    assert.equal(status, 408);
    assert.equal(upstream.received.length, 0);

    // Connections that never complete their first bytes (nothing, a partial preface) are closed.
    for (const first of ['', 'PRI * HTTP/2']) {
      const got = await rawExchange(s.gw.url, first);
      assert.equal(got, '', `closed without an answer after ${JSON.stringify(first)}`);
    }
  } finally {
    session.close();
    await s.gw.close();
    await upstream.close();
    rmSync(s.dir, { recursive: true, force: true });
  }
});
