import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { NOT_JSON_FRAME } from '../../src/simulator/realtime.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { readLedgerRows, type LedgerRow } from '../helpers/ledger-rows.js';
import {
  closed,
  waitFor,
  startScriptedUpstream,
  type ScriptedUpstream,
  type ServerEvent,
} from './realtime-helpers.js';

/**
 * Realtime sessions that go wrong, through a real `tokenmeter serve`: a server frame that is
 * not JSON, an upstream that closes or drops mid-response, a client that never finishes its
 * upgrade, unknown keys and paths, an upstream refusing the upgrade; and what must hold on the
 * wire whatever happens (the key subprotocol never upstream, frames and close codes unchanged).
 */

const KEYS = { sim: 'key-team-badinput-1', scripted: 'key-team-scripted-2' };

let sim: Simulator;
/** Paced: a response takes seconds, so a client can leave in the middle of one. */
let slowSim: Simulator;
let scripted: ScriptedUpstream;
let gw: GatewayProcess;
/** The scripted upstream's socket of the `flood` script (its send buffer shows backpressure). */
let floodSocket: WebSocket | undefined;
const FLOOD_FRAMES = 800;
const FLOOD_FRAME_BYTES = 64 * 1024;
/** The close the scripted upstream last received from the gateway. */
let upstreamClose: { code: number; reason: string } | undefined;

before(async () => {
  sim = await startSimulator({ completionTokens: 5 });
  slowSim = await startSimulator({ completionTokens: 200, tokensPerSecond: 50 });
  scripted = await startScriptedUpstream((ws, req: IncomingMessage) => {
    ws.on('close', (code: number, reason: Buffer) => {
      upstreamClose = { code, reason: reason.toString() };
    });
    const script = req.headers['x-script'];
    if (script === 'transcription') {
      // Input transcription usage (seconds of audio, or the transcription model's tokens) next
      // to one response whose type is written with a JSON escape.
      ws.send(
        JSON.stringify({
          type: 'conversation.item.input_audio_transcription.completed',
          item_id: 'i1',
          usage: { type: 'duration', seconds: 3.2 },
        }),
      );
      ws.send(
        JSON.stringify({
          type: 'conversation.item.input_audio_transcription.completed',
          item_id: 'i2',
          usage: { type: 'tokens', total_tokens: 22, input_tokens: 13, output_tokens: 9 },
        }),
      );
      ws.send('{"type":"response.created","response":{"id":"resp_t","status":"in_progress","usage":null}}');
      ws.send(
        '{"type":"response\\u002edone","response":{"id":"resp_t","status":"failed","usage":{"total_tokens":30,"input_tokens":20,"output_tokens":10,"input_token_details":{"audio_tokens":15,"cached_tokens":4,"cached_tokens_details":{"audio_tokens":2}},"output_token_details":{"audio_tokens":6}}}}',
      );
      return;
    }
    if (script === 'flood') {
      floodSocket = ws;
      for (let i = 0; i < FLOOD_FRAMES; i += 1)
        ws.send(Buffer.alloc(FLOOD_FRAME_BYTES, i % 256), { binary: true });
      return;
    }
    if (script === 'close-4003') {
      ws.send(JSON.stringify({ type: 'session.created', session: {} }));
      ws.close(4003, 'policy says no');
      return;
    }
    // echo: every message back as it came, and one binary frame first.
    ws.send(Buffer.from([0, 1, 2, 255]), { binary: true });
    ws.on('message', (data: Buffer, binary: boolean) => ws.send(data, { binary }));
  });
  gw = await startGatewayProcess({
    gateway: { headersTimeoutMs: 400, requestTimeoutMs: 1000 },
    backends: [
      { id: 'sim', type: 'openai', url: `${sim.url}/v1`, apiKey: 'sk-upstream-sim' },
      { id: 'scripted', type: 'openai', url: `${scripted.url}/v1`, apiKey: 'sk-upstream-scripted' },
      { id: 'slow', type: 'openai', url: `${slowSim.url}/v1`, apiKey: 'sk-upstream-slow' },
    ],
    apis: [
      { id: 'openai', path: '/openai/v1', type: 'openai', backend: 'sim' },
      { id: 'scripted', path: '/scripted/v1', type: 'openai', backend: 'scripted' },
      { id: 'slow', path: '/slow/v1', type: 'openai', backend: 'slow' },
    ],
    products: [{ id: 'std', apis: ['openai', 'scripted', 'slow'] }],
    subscriptions: [
      { id: 'team-sim', key: KEYS.sim, product: 'std' },
      { id: 'team-scripted', key: KEYS.scripted, product: 'std' },
    ],
  });
});

after(async () => {
  await gw.stop();
  await scripted.close();
  await slowSim.close();
  await sim.close();
});

const wsUrl = (path: string): string => `${gw.url.replace('http', 'ws')}${path}`;

/** A session of the simulator API, open, with its messages collected. */
async function openSession(
  headers: Record<string, string> = {},
): Promise<{ ws: WebSocket; events: ServerEvent[]; raw: { text: string; binary: boolean }[] }> {
  const ws = new WebSocket(wsUrl('/openai/v1/realtime?model=gpt-realtime'), {
    headers: { authorization: `Bearer ${KEYS.sim}`, ...headers },
  });
  const events: ServerEvent[] = [];
  const raw: { text: string; binary: boolean }[] = [];
  ws.on('message', (data: Buffer, binary: boolean) => {
    raw.push({ text: data.toString(), binary });
    try {
      events.push(JSON.parse(data.toString()) as ServerEvent);
    } catch {
      // Not JSON: kept in `raw` only.
    }
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, events, raw };
}

/** Sends response.create and resolves with the next response.done. */
function respond(
  session: { ws: WebSocket; events: ServerEvent[] },
  metadata?: Record<string, string>,
): Promise<ServerEvent> {
  const seen = session.events.filter((e) => e.type === 'response.done').length;
  session.ws.send(
    JSON.stringify({
      type: 'response.create',
      response: { output_modalities: ['text'], ...(metadata ? { metadata } : {}) },
    }),
  );
  return new Promise((resolve) => {
    const check = (): void => {
      const done = session.events.filter((e) => e.type === 'response.done');
      if (done.length > seen) {
        session.ws.off('message', check);
        resolve(done[seen] as ServerEvent);
      }
    };
    session.ws.on('message', check);
  });
}

/** The HTTP answer to an upgrade the gateway refused. */
function refusal(ws: WebSocket): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('error', () => undefined);
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
  });
}

function rowsOf(subscription: string): LedgerRow[] {
  return readLedgerRows(gw.ledgerPath).filter((r) => r['subscription'] === subscription);
}

function usageOf(done: ServerEvent): Record<string, number> {
  return (done['response'] as Record<string, unknown>)['usage'] as Record<string, number>;
}

test('a server frame that is not JSON is relayed as it came, not counted, and the session goes on', async () => {
  const before = rowsOf('team-sim').length;
  const session = await openSession();
  const first = await respond(session, { simulator_fail: 'non-json-frame' });
  const second = await respond(session);
  session.ws.close();
  await closed(session.ws);
  const odd = session.raw.filter((m) => m.text === NOT_JSON_FRAME);
  assert.equal(odd.length, 1);
  assert.equal(odd[0]?.binary, false);
  const rows = rowsOf('team-sim').slice(before);
  assert.equal(rows.length, 2);
  for (const [row, done] of [
    [rows[0], first],
    [rows[1], second],
  ] as const) {
    assert.equal(row?.['source'], 'reported');
    assert.equal(row?.['prompt_tokens'], usageOf(done)['input_tokens']);
    assert.equal(row?.['completion_tokens'], usageOf(done)['output_tokens']);
  }
});

test('an upstream that closes mid-response: the client gets its close, the finished response is recorded once, the cut one partial', async () => {
  const before = rowsOf('team-sim').length;
  const session = await openSession();
  const done = await respond(session);
  const end = closed(session.ws);
  session.ws.send(
    JSON.stringify({
      type: 'response.create',
      response: { metadata: { simulator_fail: 'close-mid-response' } },
    }),
  );
  assert.deepEqual(await end, { code: 1011, reason: 'simulated failure' });
  const rows = rowsOf('team-sim').slice(before);
  assert.equal(rows.length, 2);
  assert.equal(new Set(rows.map((r) => r['id'])).size, 2);
  assert.equal(rows[0]?.['source'], 'reported');
  assert.equal(rows[0]?.['prompt_tokens'], usageOf(done)['input_tokens']);
  assert.equal(rows[0]?.['completion_tokens'], usageOf(done)['output_tokens']);
  assert.equal(rows[1]?.['source'], 'partial');
  assert.equal(rows[1]?.['prompt_tokens'], null);
  assert.equal(rows[1]?.['completion_tokens'], null);
});

test('an upstream connection dropped without a close frame: the client connection is cut (1006), one partial record', async () => {
  const before = rowsOf('team-sim').length;
  const session = await openSession();
  const end = closed(session.ws);
  session.ws.send(
    JSON.stringify({
      type: 'response.create',
      response: { metadata: { simulator_fail: 'cut-mid-response' } },
    }),
  );
  assert.equal((await end).code, 1006);
  const rows = rowsOf('team-sim').slice(before);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]?.['source'], 'partial');
});

test('a client that leaves mid-response: the open response is recorded partial, once', async () => {
  const before = rowsOf('team-sim').length;
  const ws = new WebSocket(wsUrl('/slow/v1/realtime?model=gpt-realtime'), {
    headers: { authorization: `Bearer ${KEYS.sim}` },
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const delta = new Promise<void>((resolve) =>
    ws.on('message', (data: Buffer) => {
      if (data.toString().includes('response.output_text.delta')) resolve();
    }),
  );
  ws.send(JSON.stringify({ type: 'response.create', response: { output_modalities: ['text'] } }));
  await delta;
  ws.close(1000, 'user hung up');
  await closed(ws);
  await waitFor(() => rowsOf('team-sim').length > before);
  const rows = rowsOf('team-sim').slice(before);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]?.['api'], 'slow');
  assert.equal(rows[0]?.['source'], 'partial');
  assert.equal(rows[0]?.['completion_tokens'], null);
});

test('a client that never completes its upgrade request is timed out, and the gateway keeps serving', async () => {
  const socket = connect(Number(new URL(gw.url).port), '127.0.0.1');
  let answer = '';
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
  socket.write(
    `GET /openai/v1/realtime?model=gpt-realtime HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nAuthorization: Bearer ${KEYS.sim}\r\n`,
  );
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  assert.match(answer, /^HTTP\/1\.1 408 /);
  const session = await openSession();
  const done = await respond(session);
  assert.ok(usageOf(done)['output_tokens'] !== undefined);
  session.ws.close();
  await closed(session.ws);
});

test('unknown or missing keys are refused with 401 before the upgrade; unknown paths with 404', async () => {
  const rows = readLedgerRows(gw.ledgerPath).length;
  const wrong = await refusal(
    new WebSocket(wsUrl('/openai/v1/realtime?model=m'), {
      headers: { authorization: 'Bearer not-a-key-at-all' },
    }),
  );
  assert.equal(wrong.status, 401);
  assert.equal((JSON.parse(wrong.body) as { error: { code: string } }).error.code, 'TM_UNAUTHORIZED');
  const none = await refusal(new WebSocket(wsUrl('/openai/v1/realtime?model=m')));
  assert.equal(none.status, 401);
  const badProtocol = await refusal(
    new WebSocket(wsUrl('/openai/v1/realtime?model=m'), [
      'realtime',
      'openai-insecure-api-key.wrong-key-123',
    ]),
  );
  assert.equal(badProtocol.status, 401);
  const path = await refusal(
    new WebSocket(wsUrl('/openai/v1/chat/completions'), { headers: { authorization: `Bearer ${KEYS.sim}` } }),
  );
  assert.equal(path.status, 404);
  assert.equal((JSON.parse(path.body) as { error: { code: string } }).error.code, 'TM_NOT_FOUND');
  const nowhere = await refusal(
    new WebSocket(wsUrl('/elsewhere/realtime'), { headers: { authorization: `Bearer ${KEYS.sim}` } }),
  );
  assert.equal(nowhere.status, 404);
  assert.equal(readLedgerRows(gw.ledgerPath).length, rows);
});

test('an upstream refusing the upgrade (5xx, 4xx): the client gets its HTTP error, nothing is recorded', async () => {
  const rows = readLedgerRows(gw.ledgerPath).length;
  for (const status of ['500', '429', '401']) {
    const answer = await refusal(
      new WebSocket(wsUrl('/openai/v1/realtime?model=m'), {
        headers: { authorization: `Bearer ${KEYS.sim}`, 'x-simulator-fail': status },
      }),
    );
    assert.equal(answer.status, Number(status));
    assert.match(answer.body, /Simulated failure/);
  }
  assert.equal(readLedgerRows(gw.ledgerPath).length, rows);
});

test('frames cross unchanged both ways (text, binary), the key subprotocol never goes upstream, close codes pass both ways', async () => {
  const ws = new WebSocket(wsUrl('/scripted/v1/realtime?model=gpt-realtime'), [
    'realtime',
    `openai-insecure-api-key.${KEYS.scripted}`,
    'openai-beta.realtime-v1',
  ]);
  const received: { data: Buffer; binary: boolean }[] = [];
  ws.on('message', (data: Buffer, binary: boolean) => received.push({ data, binary }));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  assert.equal(ws.protocol, 'realtime');
  const text = Buffer.from('{"type":"conversation.item.create","note":"héllo ✓"}');
  const binary = Buffer.from([9, 8, 7, 0, 255, 128]);
  ws.send(text, { binary: false });
  ws.send(binary, { binary: true });
  while (received.length < 3) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(received[0], { data: Buffer.from([0, 1, 2, 255]), binary: true });
  assert.deepEqual(received[1], { data: text, binary: false });
  assert.deepEqual(received[2], { data: binary, binary: true });

  const handshake = scripted.requests.at(-1) as IncomingMessage;
  assert.equal(handshake.headers['authorization'], 'Bearer sk-upstream-scripted');
  assert.doesNotMatch(handshake.headers['sec-websocket-protocol'] ?? '', /insecure-api-key|key-team/);
  assert.match(handshake.headers['sec-websocket-protocol'] ?? '', /openai-beta\.realtime-v1/);

  upstreamClose = undefined;
  ws.close(4001, 'client says bye');
  await closed(ws);
  while (upstreamClose === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(upstreamClose, { code: 4001, reason: 'client says bye' });

  const policy = new WebSocket(wsUrl('/scripted/v1/realtime?model=gpt-realtime'), {
    headers: { authorization: `Bearer ${KEYS.scripted}`, 'x-script': 'close-4003' },
  });
  assert.deepEqual(await closed(policy), { code: 4003, reason: 'policy says no' });
});

test('transcription usage (seconds or the transcription model tokens) is never counted; an escaped response.done with status failed is', async () => {
  const before = rowsOf('team-scripted').length;
  const ws = new WebSocket(wsUrl('/scripted/v1/realtime?model=gpt-realtime'), {
    headers: { authorization: `Bearer ${KEYS.scripted}`, 'x-script': 'transcription' },
  });
  let messages = 0;
  ws.on('message', () => (messages += 1));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  await waitFor(() => messages === 4);
  ws.close();
  await closed(ws);
  const rows = rowsOf('team-scripted').slice(before);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]?.['source'], 'reported');
  assert.equal(rows[0]?.['prompt_tokens'], 20);
  assert.equal(rows[0]?.['completion_tokens'], 10);
  assert.equal(rows[0]?.['total_tokens'], 30);
  assert.equal(rows[0]?.['cached_tokens'], 4);
  assert.deepEqual(JSON.parse(String(rows[0]?.['token_details'])), {
    audioPromptTokens: 15,
    cachedAudioTokens: 2,
    audioCompletionTokens: 6,
  });
});

test('a client that stops reading holds the upstream back (the gateway stops reading it) and then gets every frame in order', async () => {
  floodSocket = undefined;
  const ws = new WebSocket(wsUrl('/scripted/v1/realtime?model=gpt-realtime'), {
    headers: { authorization: `Bearer ${KEYS.scripted}`, 'x-script': 'flood' },
  });
  const received: number[] = [];
  ws.on('message', (data: Buffer) => {
    assert.equal(data.length, FLOOD_FRAME_BYTES);
    received.push(data[0] ?? -1);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.pause();
  // With the client not reading, the relay's 1 MiB bound and the sockets' buffers fill and the
  // gateway stops reading the upstream: the upstream's send queue stops draining and stays
  // large (without backpressure the gateway would read it all, into its own memory).
  await waitFor(() => floodSocket !== undefined);
  let last = -1;
  let steady = 0;
  await waitFor(() => {
    const now = floodSocket?.bufferedAmount ?? 0;
    steady = now === last ? steady + 1 : 0;
    last = now;
    return steady >= 10;
  }, 20_000);
  assert.ok(last > 16 * 1024 * 1024, `the upstream's queue settled at ${last} bytes`);
  ws.resume();
  await waitFor(() => received.length === FLOOD_FRAMES, 20_000);
  assert.deepEqual(
    received,
    Array.from({ length: FLOOD_FRAMES }, (_, i) => i % 256),
  );
  ws.close();
  await closed(ws);
});
