import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { readLedgerRows } from '../helpers/ledger-rows.js';
import { startServeChild, type ServeChild } from './serve-child.js';

/** A gateway whose simulator streams `completionTokens` at `tokensPerSecond`. */
function slowStreamConfig(tokensPerSecond: number, completionTokens: number, drainTimeoutMs: number) {
  return {
    gateway: { drainTimeoutMs },
    backends: [{ id: 'sim', type: 'simulator', simulator: { tokensPerSecond, completionTokens } }],
    apis: [{ id: 'openai', path: '/openai/v1', type: 'openai', backend: 'sim' }],
    products: [{ id: 'p', apis: ['openai'] }],
    subscriptions: [{ id: 'team-a', key: 'key-team-a-1', product: 'p' }],
  };
}

/** Starts a streamed chat call and resolves once its first bytes have arrived. */
async function startStream(gw: ServeChild): Promise<{ rest: Promise<{ text: string; error?: unknown }> }> {
  const res = await fetch(`${gw.url}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer key-team-a-1', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true }),
  });
  assert.equal(res.status, 200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const first = await reader.read();
  let text = decoder.decode(first.value, { stream: true });
  const rest = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return { text };
        text += decoder.decode(value, { stream: true });
      }
    } catch (error) {
      return { text, error };
    }
  })();
  return { rest };
}

/** Resolves with the error code of a new TCP connection to the gateway (or 'connected'). */
function tryConnect(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? String(err)));
  });
}

/** An idle keep-alive connection: one answered GET /healthz, the socket kept open. */
function idleKeepAlive(url: string): Promise<{ closed: Promise<void> }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    let answer = '';
    socket.on('data', (d: Buffer) => {
      answer += d.toString();
      if (answer.includes('{"status":"ok"}')) resolve({ closed });
    });
    socket.once('error', reject);
    socket.write(`GET /healthz HTTP/1.1\r\nHost: ${hostname}\r\nConnection: keep-alive\r\n\r\n`);
  });
}

describe('tokenmeter serve on SIGTERM drains the calls in flight, then exits 0', () => {
  it('refuses new connections, closes idle ones, lets a stream finish, records it, exits 0', async () => {
    // 40 tokens at 20/s: a stream of about 2 s; the drain allows 20 s.
    const gw = await startServeChild(slowStreamConfig(20, 40, 20_000));
    const idle = await idleKeepAlive(gw.url);
    const stream = await startStream(gw);
    gw.child.kill('SIGTERM');
    await gw.waitForLog(/stopping: new connections refused/);
    assert.equal(await tryConnect(gw.url), 'ECONNREFUSED');
    await idle.closed;
    // A second SIGTERM does not cut the drain short.
    gw.child.kill('SIGTERM');
    await gw.waitForLog(/already stopping/);
    const { text, error } = await stream.rest;
    assert.equal(error, undefined, `the stream was cut: ${String(error)}`);
    assert.match(text, /data: \[DONE\]/);
    const { code, signal } = await gw.exited;
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, gw.stderr());
    const summary = JSON.parse(await gw.waitForLog(/"msg":"stopped/)) as Record<string, unknown>;
    assert.deepEqual([summary.inFlight, summary.finished, summary.cut], [1, 1, 0]);
    const rows = readLedgerRows(gw.ledgerPath).filter((r) => r.stream === 1);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.source, 'reported');
    assert.equal(rows[0]?.completion_tokens, 40);
    assert.equal(rows[0]?.subscription, 'team-a');
  });

  it('cuts a stream longer than drainTimeoutMs at the deadline, records it partial, exits 0', async () => {
    // 200 tokens at 10/s: 20 s of stream; the drain allows 500 ms.
    const gw = await startServeChild(slowStreamConfig(10, 200, 500));
    const stream = await startStream(gw);
    gw.child.kill('SIGTERM');
    const { text, error } = await stream.rest;
    assert.notEqual(error, undefined, 'the stream should have been cut');
    assert.doesNotMatch(text, /\[DONE\]/);
    const { code, signal } = await gw.exited;
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, gw.stderr());
    const summary = JSON.parse(await gw.waitForLog(/"msg":"stopped/)) as Record<string, unknown>;
    assert.deepEqual([summary.inFlight, summary.finished, summary.cut], [1, 0, 1]);
    const rows = readLedgerRows(gw.ledgerPath).filter((r) => r.stream === 1);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.source, 'partial');
    const completion = rows[0]?.completion_tokens;
    assert.ok(typeof completion === 'number' && completion > 0 && completion < 200, String(completion));
  });

  it('with nothing in flight, SIGINT stops at once: exit 0, nothing cut', async () => {
    const gw = await startServeChild(slowStreamConfig(0, 5, 20_000));
    gw.child.kill('SIGINT');
    const { code } = await gw.exited;
    assert.equal(code, 0, gw.stderr());
    const summary = JSON.parse(await gw.waitForLog(/"msg":"stopped/)) as Record<string, unknown>;
    assert.deepEqual([summary.inFlight, summary.finished, summary.cut], [0, 0, 0]);
  });
});
