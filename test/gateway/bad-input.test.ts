import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { readLedgerRows } from '../helpers/ledger-rows.js';

const KEY = 'team-a-key-123';
const REVOKED = 'team-gone-key-456';
const OTHER_PRODUCT = 'team-b-key-789';

let sim: Simulator;
let slowSim: Simulator;
let gw: GatewayProcess;

before(async () => {
  sim = await startSimulator({ completionTokens: 8 });
  slowSim = await startSimulator({ completionTokens: 400, tokensPerSecond: 40 });
  gw = await startGatewayProcess({
    gateway: { maxBodyBytes: 4096 },
    backends: [
      { id: 'sim', type: 'openai', url: `${sim.url}/v1`, apiKey: 'sk-backend' },
      { id: 'slow', type: 'openai', url: `${slowSim.url}/v1`, apiKey: 'sk-backend' },
    ],
    apis: [
      { id: 'openai', path: '/openai/v1', type: 'openai', backend: 'sim' },
      { id: 'slow', path: '/slow/v1', type: 'openai', backend: 'slow' },
    ],
    products: [
      { id: 'std', apis: ['openai', 'slow'] },
      { id: 'other', apis: ['slow'] },
    ],
    subscriptions: [
      { id: 'team-a', key: KEY, product: 'std' },
      { id: 'team-gone', key: REVOKED, product: 'std', revoked: true },
      { id: 'team-b', key: OTHER_PRODUCT, product: 'other' },
    ],
  });
});

after(async () => {
  await gw.stop();
  await sim.close();
  await slowSim.close();
});

const chatBody = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });

async function post(
  path: string,
  headers: Record<string, string>,
  body: string = chatBody,
): Promise<{ status: number; json: { error?: { code?: string } } }> {
  const res = await fetch(gw.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text) as { error?: { code?: string } } };
}

function ledgerCount(): number {
  return readLedgerRows(gw.ledgerPath).length;
}

describe('requests refused before forwarding: nothing forwarded, nothing billed', () => {
  const cases: [string, string, Record<string, string>, number, string, string?][] = [
    ['missing key', '/openai/v1/chat/completions', {}, 401, 'TM_UNAUTHORIZED'],
    [
      'unknown key',
      '/openai/v1/chat/completions',
      { authorization: 'Bearer sk-not-a-key' },
      401,
      'TM_UNAUTHORIZED',
    ],
    [
      'unknown key in api-key',
      '/openai/v1/chat/completions',
      { 'api-key': 'nope-nope-nope' },
      401,
      'TM_UNAUTHORIZED',
    ],
    ['revoked key', '/openai/v1/chat/completions', { 'x-api-key': REVOKED }, 401, 'TM_UNAUTHORIZED'],
    [
      'API outside the product',
      '/openai/v1/chat/completions',
      { 'ocp-apim-subscription-key': OTHER_PRODUCT },
      403,
      'TM_FORBIDDEN',
    ],
    [
      'unknown API path',
      '/nowhere/chat/completions',
      { authorization: `Bearer ${KEY}` },
      404,
      'TM_NOT_FOUND',
    ],
    [
      'unknown operation',
      '/openai/v1/images/generations',
      { authorization: `Bearer ${KEY}` },
      404,
      'TM_NOT_FOUND',
    ],
    [
      'malformed JSON',
      '/openai/v1/chat/completions',
      { authorization: `Bearer ${KEY}` },
      400,
      'TM_BAD_JSON',
      '{"model": "gpt-4o", "messages": [',
    ],
    [
      'JSON that is not an object',
      '/openai/v1/chat/completions',
      { authorization: `Bearer ${KEY}` },
      400,
      'TM_BAD_JSON',
      '[1,2]',
    ],
    ['empty body', '/openai/v1/chat/completions', { authorization: `Bearer ${KEY}` }, 400, 'TM_BAD_JSON', ''],
    [
      'body over the limit',
      '/openai/v1/chat/completions',
      { authorization: `Bearer ${KEY}` },
      413,
      'TM_BODY_TOO_LARGE',
      JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(5000) }] }),
    ],
  ];
  for (const [name, path, headers, status, code, body] of cases) {
    test(name, async () => {
      const forwardedBefore = sim.stats().requests;
      const recordsBefore = ledgerCount();
      const res = await post(path, headers, body);
      assert.equal(res.status, status);
      assert.equal(res.json.error?.code, code);
      assert.equal(sim.stats().requests, forwardedBefore, 'nothing reached the upstream');
      assert.equal(ledgerCount(), recordsBefore, 'nothing was billed');
    });
  }

  test('a client sending Expect: 100-continue (curl, large bodies) is served', async () => {
    const { request } = await import('node:http');
    const body = JSON.stringify({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x'.repeat(2000) }],
    });
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${gw.url}/openai/v1/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${KEY}`,
          'content-type': 'application/json',
          expect: '100-continue',
          'content-length': Buffer.byteLength(body),
        },
      });
      req.on('continue', () => req.end(body));
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
    });
    assert.equal(status, 200);
  });

  test('a valid key in each header form is accepted', async () => {
    for (const headers of [
      { authorization: `Bearer ${KEY}` },
      { 'api-key': KEY },
      { 'x-api-key': KEY },
      { 'ocp-apim-subscription-key': KEY },
      { 'x-goog-api-key': KEY },
    ]) {
      const res = await post('/openai/v1/chat/completions', headers);
      assert.equal(res.status, 200, JSON.stringify(headers));
    }
  });
});

describe('upstream trouble', () => {
  test('upstream 500 and 429 are relayed and recorded with their status, no tokens', async () => {
    for (const fail of ['500', '429']) {
      const res = await post('/openai/v1/chat/completions', {
        authorization: `Bearer ${KEY}`,
        'x-simulator-fail': fail,
      });
      assert.equal(res.status, Number(fail));
      const row = readLedgerRows(gw.ledgerPath).at(-1);
      assert.equal(row?.status, Number(fail));
      assert.equal(row?.total_tokens, null);
    }
  });

  test('upstream invalid JSON reaches the client as sent, its prompt estimated and flagged', async () => {
    const res = await fetch(`${gw.url}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${KEY}`,
        'content-type': 'application/json',
        'x-simulator-fail': 'invalid-json',
      },
      body: chatBody,
    });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.throws(() => JSON.parse(text) as unknown);
    const row = readLedgerRows(gw.ledgerPath).at(-1);
    assert.equal(row?.status, 200);
    // The usage cannot be read: never `reported` with nothing (the completion stays unknown).
    assert.equal(row?.source, 'estimated');
    assert.equal(row?.flags, 'usage_unreadable');
    assert.ok(Number(row?.prompt_tokens) > 0);
    assert.equal(row?.completion_tokens, null);
  });

  test('a backend that does not answer in time: 504 with a JSON error, recorded with status 504', async () => {
    const { createServer } = await import('node:http');
    // Accepts the request and never answers.
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const slow = await startGatewayProcess({
      gateway: { upstreamTimeoutMs: 300 },
      backends: [{ id: 'silent', type: 'openai', url: `http://127.0.0.1:${port}/v1` }],
      apis: [{ id: 'openai', path: '/openai/v1', type: 'openai', backend: 'silent' }],
      products: [{ id: 'std', apis: ['openai'] }],
      subscriptions: [{ id: 'team-a', key: KEY, product: 'std' }],
    });
    try {
      const res = await fetch(`${slow.url}/openai/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}` },
        body: chatBody,
      });
      assert.equal(res.status, 504);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'TM_UPSTREAM_TIMEOUT');
      assert.equal(readLedgerRows(slow.ledgerPath).at(-1)?.status, 504);
    } finally {
      await slow.stop();
      silent.closeAllConnections();
      silent.close();
    }
  });

  test('unreachable backend: 502 with a JSON error, recorded with status 502', async () => {
    // A backend on a port nobody listens on.
    const dead = await startGatewayProcess({
      backends: [{ id: 'dead', type: 'openai', url: 'http://127.0.0.1:9/v1' }],
      apis: [{ id: 'openai', path: '/openai/v1', type: 'openai', backend: 'dead' }],
      products: [{ id: 'std', apis: ['openai'] }],
      subscriptions: [{ id: 'team-a', key: KEY, product: 'std' }],
    });
    try {
      const res = await fetch(`${dead.url}/openai/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}` },
        body: chatBody,
      });
      assert.equal(res.status, 502);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'TM_UPSTREAM_UNAVAILABLE');
      assert.equal(readLedgerRows(dead.ledgerPath).at(-1)?.status, 502);
    } finally {
      await dead.stop();
    }
  });
});

describe('client abort mid-stream', () => {
  test('the record keeps what was generated so far, marked partial', async () => {
    const ac = new AbortController();
    const res = await fetch(`${gw.url}/slow/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'write a long essay' }],
        stream: true,
      }),
      signal: ac.signal,
    });
    assert.equal(res.status, 200);
    const reader = res.body?.getReader();
    assert.ok(reader);
    let received = '';
    while (received.split('"content":"').length < 6) {
      const { value } = (await reader.read()) as { value?: Uint8Array };
      received += Buffer.from(value ?? new Uint8Array()).toString();
    }
    const before = ledgerCount();
    ac.abort();
    // The record is written by the gateway process once it sees the client go: poll for it (bounded).
    for (let i = 0; i < 100 && ledgerCount() === before; i++) await new Promise((r) => setTimeout(r, 20));
    const row = readLedgerRows(gw.ledgerPath).at(-1);
    assert.equal(ledgerCount(), before + 1);
    assert.equal(row?.source, 'partial');
    const completion = row?.completion_tokens as number;
    assert.ok(
      completion >= 4 && completion < 400,
      `completion tokens ${completion} count what was generated`,
    );
    assert.ok((row?.prompt_tokens as number) > 0);
  });
});

describe('client gone before its body arrived', () => {
  test('the gateway settles the call, forwards nothing and stays healthy', async () => {
    const { connect } = await import('node:net');
    const { port, hostname } = new URL(gw.url);
    const forwardedBefore = sim.stats().requests;
    const recordsBefore = ledgerCount();
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => {
        socket.write(
          `POST /openai/v1/chat/completions HTTP/1.1\r\nhost: ${hostname}\r\nauthorization: Bearer ${KEY}\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"model":"gpt-4o-mini",`,
          () => {
            socket.destroy();
            resolve();
          },
        );
      });
      socket.on('error', reject);
    });
    const health = await fetch(`${gw.url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(sim.stats().requests, forwardedBefore);
    assert.equal(ledgerCount(), recordsBefore);
  });
});
