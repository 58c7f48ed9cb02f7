import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { httpChunk, httpHead, startRogueBackend, type RogueBackend } from '../helpers/rogue-backend.js';

const KEY = 'team-a-secret-key';

function gatewayConfig(backendUrl: string, limits: Record<string, number>) {
  return configSchema.parse({
    gateway: { host: '127.0.0.1', port: 0, ...limits },
    backends: [{ id: 'rogue', type: 'openai', url: `${backendUrl}/v1` }],
    apis: [{ id: 'openai', path: '/openai/v1', type: 'openai', backend: 'rogue' }],
    products: [{ id: 'p', apis: ['openai'] }],
    subscriptions: [{ id: 'team-a', key: KEY, product: 'p' }],
  });
}

/** Rejects when `promise` has not settled within `ms`: every wait in these tests is bounded. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A raw client connection: what it received, and when the server closed it. */
interface RawClient {
  socket: Socket;
  received: () => string;
  /** Resolves with the milliseconds from connect to close. */
  closed: Promise<number>;
  /** Resolves once `text` has been received. */
  receivedText: (text: string) => Promise<void>;
}

/**
 * Opens a raw connection; `opened` collects it so that the suite can destroy every socket before
 * its gateway closes, even when a test failed half-way.
 */
async function openRaw(url: string, opened: Set<Socket>): Promise<RawClient> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  opened.add(socket);
  socket.on('error', () => undefined); // a refused or reset connection ends in 'close' below
  let data = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  socket.on('data', (chunk: Buffer) => {
    data += chunk.toString('latin1');
    for (const w of waiters.filter((x) => data.includes(x.text))) w.resolve();
  });
  const started = Date.now();
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)));
  await within(5000, 'connect', new Promise<void>((resolve) => socket.once('connect', () => resolve())));
  return {
    socket,
    received: () => data,
    closed,
    receivedText: (text) =>
      data.includes(text) ? Promise.resolve() : new Promise((resolve) => waiters.push({ text, resolve })),
  };
}

/** Writes one byte every `everyMs` until the socket closes: a client trickling its request. */
function trickle(client: RawClient, byte: string, everyMs: number): void {
  const timer = setInterval(() => {
    if (!client.socket.destroyed) client.socket.write(byte);
  }, everyMs);
  void client.closed.then(() => clearInterval(timer));
}

async function metricValue(gateway: Gateway, name: string): Promise<number> {
  const text = await gateway.metrics.render();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line !== undefined, `${name} missing from /metrics`);
  return Number(line.slice(name.length + 1));
}

/** Reads the gauge until it shows `expected` (the server sees a client's close a moment later). */
async function gaugeReaches(gateway: Gateway, expected: number): Promise<void> {
  await within(
    5000,
    `tokenmeter_open_connections = ${expected}`,
    (async () => {
      while ((await metricValue(gateway, 'tokenmeter_open_connections')) !== expected)
        await new Promise((resolve) => setImmediate(resolve));
    })(),
  );
}

/** Calls in the gateway's ledger. */
async function ledgerCalls(gateway: Gateway): Promise<number> {
  const rows = await gateway.ledger.query({ by: [], where: [] });
  return rows.reduce((sum, row) => sum + row.requests, 0);
}

/** One complete non-streamed chat call; resolves with its status once the answer has ended. */
function completeCall(gateway: Gateway): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${gateway.url}/openai/v1/chat/completions`,
      { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }));
  });
}

const REQUEST_TIMEOUT = 600;
const HEADERS_TIMEOUT = 300;
const KEEP_ALIVE_TIMEOUT = 300;

describe('client connection timeouts', { timeout: 60_000 }, () => {
  let rogue: RogueBackend;
  let gateway: Gateway;
  const opened = new Set<Socket>();

  before(async () => {
    rogue = await startRogueBackend();
    gateway = await startGateway(
      gatewayConfig(rogue.url, {
        requestTimeoutMs: REQUEST_TIMEOUT,
        headersTimeoutMs: HEADERS_TIMEOUT,
        keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT,
      }),
      { port: 0, ledgerUrl: 'sqlite::memory:', logger: pino({ level: 'silent' }) },
    );
  });
  after(async () => {
    for (const socket of opened) socket.destroy();
    await gateway.close();
    await rogue.close();
  });

  const head = (key: string | undefined): string =>
    [
      'POST /openai/v1/chat/completions HTTP/1.1',
      'Host: gateway',
      ...(key === undefined ? [] : [`Authorization: Bearer ${key}`]),
      'Content-Type: application/json',
      'Content-Length: 100000',
      '',
      '{"model":"gpt-4o","messages":[',
    ].join('\r\n');

  for (const [variant, key] of [
    ['with a valid key', KEY],
    ['without a key', undefined],
  ] as const) {
    it(`a body trickled ${variant} is cut once requestTimeoutMs has passed, and nothing is forwarded`, async () => {
      const before = rogue.requests.length;
      const callsBefore = await ledgerCalls(gateway);
      const client = await openRaw(gateway.url, opened);
      client.socket.write(head(key));
      trickle(client, ' ', 50);
      const ms = await within(REQUEST_TIMEOUT + 5000, 'trickling client closed', client.closed);
      assert.ok(ms >= REQUEST_TIMEOUT * 0.9, `closed after ${ms} ms`);
      // Node answers 408 when nothing was sent yet; a 401 already sent stays the answer.
      assert.match(client.received(), key === undefined ? /^HTTP\/1\.1 401 / : /^HTTP\/1\.1 408 /);
      assert.equal(rogue.requests.length, before);
      // The next complete call is the only one billed: the cut request left no record.
      assert.equal(await within(5000, 'a complete call', completeCall(gateway)), 200);
      assert.equal(await ledgerCalls(gateway), callsBefore + 1);
    });
  }

  it('headers never finished are cut after headersTimeoutMs with a 408', async () => {
    const client = await openRaw(gateway.url, opened);
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: gateway\r\n');
    trickle(client, 'x', 40); // an endless header line
    const ms = await within(HEADERS_TIMEOUT + 5000, 'slow-headers client closed', client.closed);
    assert.ok(ms >= HEADERS_TIMEOUT * 0.9, `closed after ${ms} ms`);
    assert.ok(ms < REQUEST_TIMEOUT + 1000, `closed after ${ms} ms: the headers timeout should cut first`);
    assert.match(client.received(), /^HTTP\/1\.1 408 /);
  });

  it('an idle keep-alive connection is closed after keepAliveTimeoutMs', async () => {
    const client = await openRaw(gateway.url, opened);
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n');
    await within(5000, 'healthz answer', client.receivedText('{"status":"ok"}'));
    const answered = Date.now();
    // Node closes 1 s after the keep-alive timeout it announces (so that the client closes first).
    await within(KEEP_ALIVE_TIMEOUT + 5000, 'idle client closed', client.closed);
    const idle = Date.now() - answered;
    assert.ok(idle >= KEEP_ALIVE_TIMEOUT * 0.9, `closed after ${idle} ms idle`);
  });

  it('a streamed answer lasting longer than every client timeout is relayed whole', async () => {
    const events = Array.from({ length: 6 }, (_, i) =>
      JSON.stringify({
        id: 'c',
        object: 'chat.completion.chunk',
        model: 'gpt-4o',
        choices: [{ index: 0, delta: { content: `w${i} ` } }],
      }),
    );
    const usage = JSON.stringify({
      id: 'c',
      object: 'chat.completion.chunk',
      model: 'gpt-4o',
      choices: [],
      usage: { prompt_tokens: 3, completion_tokens: 6, total_tokens: 9 },
    });
    rogue.script(() => [
      { write: httpHead(200, { 'content-type': 'text/event-stream', 'transfer-encoding': 'chunked' }) },
      ...events.flatMap((e) => [{ write: httpChunk(`data: ${e}\n\n`) }, { pause: 250 }]),
      { write: httpChunk(`data: ${usage}\n\ndata: [DONE]\n\n`) },
      { write: httpChunk('') },
    ]);
    const started = Date.now();
    const { status, body } = await within(
      20_000,
      'streamed answer',
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(
          `${gateway.url}/openai/v1/chat/completions`,
          { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' } },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (text += chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(
          JSON.stringify({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
        );
      }),
    );
    const took = Date.now() - started;
    assert.equal(status, 200);
    assert.ok(took > REQUEST_TIMEOUT + KEEP_ALIVE_TIMEOUT, `the answer took only ${took} ms`);
    for (let i = 0; i < events.length; i++) assert.ok(body.includes(`w${i} `), body);
    assert.ok(body.trimEnd().endsWith('data: [DONE]'), body);
  });
});

describe('gateway.maxConnections', { timeout: 60_000 }, () => {
  const MAX = 3;
  let rogue: RogueBackend;
  let gateway: Gateway;
  const opened = new Set<Socket>();

  before(async () => {
    rogue = await startRogueBackend();
    gateway = await startGateway(gatewayConfig(rogue.url, { maxConnections: MAX }), {
      port: 0,
      ledgerUrl: 'sqlite::memory:',
      logger: pino({ level: 'silent' }),
    });
  });
  after(async () => {
    for (const socket of opened) socket.destroy();
    await gateway.close();
    await rogue.close();
  });

  /** A connection the gateway has accepted: it answered a request on it and keeps it open. */
  async function held(): Promise<RawClient> {
    const client = await openRaw(gateway.url, opened);
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n');
    await within(5000, 'healthz answer', client.receivedText('{"status":"ok"}'));
    return client;
  }

  it('while N connections are held the next one is refused at accept and counted; the gauge follows', async () => {
    assert.equal(await metricValue(gateway, 'tokenmeter_open_connections'), 0);
    const clients: RawClient[] = [];
    for (let i = 1; i <= MAX; i++) {
      clients.push(await held());
      await gaugeReaches(gateway, i);
    }
    const refused = await openRaw(gateway.url, opened);
    refused.socket.write('GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n');
    await within(5000, 'refused connection closed', refused.closed);
    assert.equal(refused.received(), '');
    assert.equal(await metricValue(gateway, 'tokenmeter_connections_refused_total'), 1);
    assert.equal(await metricValue(gateway, 'tokenmeter_open_connections'), MAX);

    // One held connection goes away: a new one is served again.
    clients.pop()?.socket.destroy();
    await gaugeReaches(gateway, MAX - 1);
    clients.push(await held());
    await gaugeReaches(gateway, MAX);
    for (const client of clients) client.socket.destroy();
    await gaugeReaches(gateway, 0);
  });
});
