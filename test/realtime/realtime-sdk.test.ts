import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI, { AzureOpenAI } from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { WebSocket } from 'ws';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { readLedgerRows, type LedgerRow } from '../helpers/ledger-rows.js';
import { closed, nextEvent, opened, PLAIN_TCP, usageOf, type ServerEvent } from './realtime-helpers.js';

/**
 * The official `openai` Realtime client (OpenAIRealtimeWS, openai 6.x) through a real
 * `tokenmeter serve` to the simulator: one ledger record per response.done, with the counts
 * and the audio split the client itself received.
 */

const KEYS = { voice: 'key-team-voice-1', azure: 'key-team-azure-2' };

let sim: Simulator;
let gw: GatewayProcess;

before(async () => {
  sim = await startSimulator({ completionTokens: 7 });
  gw = await startGatewayProcess({
    gateway: { id: 'gw-rt' },
    backends: [
      { id: 'oai', type: 'openai', url: `${sim.url}/v1`, apiKey: 'sk-upstream-openai' },
      { id: 'aoai', type: 'azure-openai', url: sim.url, apiKey: 'upstream-azure-key' },
    ],
    apis: [
      { id: 'openai', path: '/openai/v1', type: 'openai', backend: 'oai' },
      { id: 'azure', path: '/azure', type: 'azure-openai', backend: 'aoai' },
    ],
    products: [{ id: 'std', apis: ['openai', 'azure'] }],
    subscriptions: [
      { id: 'team-voice', key: KEYS.voice, product: 'std' },
      { id: 'team-azure', key: KEYS.azure, product: 'std' },
    ],
    tokenMetrics: [
      { namespace: 'tm', dimensions: ['API ID', 'Operation ID', 'Subscription ID', 'model', 'stream'] },
    ],
  });
});

after(async () => {
  await gw.stop();
  await sim.close();
});

/** One turn: a text item and a response.create; resolves with the response.done the client got. */
async function turn(
  rt: OpenAIRealtimeWS,
  text: string,
  modalities?: ('text' | 'audio')[],
): Promise<ServerEvent> {
  const done = nextEvent(rt, 'response.done');
  rt.send({
    type: 'conversation.item.create',
    item: { type: 'message', role: 'user', content: [{ type: 'input_text', text }] },
  });
  rt.send({
    type: 'response.create',
    ...(modalities ? { response: { output_modalities: modalities } } : {}),
  });
  return done;
}

function rowsOf(subscription: string): LedgerRow[] {
  return readLedgerRows(gw.ledgerPath).filter((r) => r['subscription'] === subscription);
}

/** The record a response.done's usage must become. */
function assertRecordOf(row: LedgerRow | undefined, done: ServerEvent): void {
  assert.ok(row !== undefined);
  const usage = usageOf(done);
  const input = usage['input_token_details'] as Record<string, number>;
  const output = usage['output_token_details'] as Record<string, number>;
  const cached = (input['cached_tokens_details'] ?? {}) as unknown as Record<string, number>;
  assert.equal(row['operation'], 'realtime');
  assert.equal(row['source'], 'reported');
  assert.equal(row['prompt_tokens'], usage['input_tokens']);
  assert.equal(row['completion_tokens'], usage['output_tokens']);
  assert.equal(row['total_tokens'], usage['total_tokens']);
  assert.equal(row['cached_tokens'], input['cached_tokens']);
  assert.deepEqual(JSON.parse(String(row['token_details'])), {
    audioPromptTokens: input['audio_tokens'],
    cachedAudioTokens: cached['audio_tokens'],
    imagePromptTokens: input['image_tokens'],
    audioCompletionTokens: output['audio_tokens'],
  });
}

test('OpenAIRealtimeWS through the gateway: two responses, two records with the exact counts and audio split', async () => {
  const client = new OpenAI({ baseURL: `${gw.url}/openai/v1`, apiKey: KEYS.voice });
  const rt = await OpenAIRealtimeWS.create(client, { model: 'gpt-realtime', options: PLAIN_TCP });
  const created = nextEvent(rt, 'session.created');
  await opened(rt);
  await created;
  let audioDeltas = 0;
  rt.on('response.output_audio.delta', () => (audioDeltas += 1));
  const first = await turn(rt, 'Say something about token meters.');
  const second = await turn(rt, 'And once more, shorter.', ['text']);
  rt.close();
  await closed(rt.socket);

  assert.ok(audioDeltas > 0, 'the audio deltas reached the client');
  const rows = rowsOf('team-voice');
  assert.equal(rows.length, 2);
  assertRecordOf(rows[0], first);
  assertRecordOf(rows[1], second);
  assert.equal(rows[0]?.['model'], 'gpt-realtime');
  assert.equal(rows[0]?.['api'], 'openai');
  assert.equal(rows[0]?.['stream'], 1);
  // The second response read the first one's input from the cache and carried its output as context.
  assert.ok(Number(rows[1]?.['cached_tokens']) > 0);
  assert.ok(Number(usageOf(first)['output_tokens']) > Number(usageOf(second)['output_tokens']));
});

test('Azure OpenAI: OpenAIRealtimeWS.azure (api-version, deployment) and the GA /openai/v1/realtime path', async () => {
  const azure = new AzureOpenAI({
    endpoint: `${gw.url}/azure`,
    apiKey: KEYS.azure,
    apiVersion: '2025-04-01-preview',
    deployment: 'gpt-4o-realtime-preview',
  });
  const rt = await OpenAIRealtimeWS.azure(azure, { options: PLAIN_TCP });
  await opened(rt);
  const done = await turn(rt, 'Hello from Azure.');
  rt.close();
  await closed(rt.socket);

  const ga = new OpenAI({ baseURL: `${gw.url}/azure/openai/v1`, apiKey: KEYS.azure });
  const rtGa = await OpenAIRealtimeWS.create(ga, { model: 'gpt-realtime', options: PLAIN_TCP });
  await opened(rtGa);
  const doneGa = await turn(rtGa, 'Hello from the GA path.', ['text']);
  rtGa.close();
  await closed(rtGa.socket);

  const rows = rowsOf('team-azure');
  assert.equal(rows.length, 2);
  assertRecordOf(rows[0], done);
  assertRecordOf(rows[1], doneGa);
  assert.equal(rows[0]?.['model'], 'gpt-4o-realtime-preview');
  assert.equal(rows[1]?.['model'], 'gpt-realtime');
  assert.equal(rows[0]?.['api'], 'azure');
});

test('a browser-style client authenticates with the openai-insecure-api-key subprotocol and gets `realtime` back', async () => {
  const before = rowsOf('team-voice').length;
  const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/openai/v1/realtime?model=gpt-realtime-mini`, [
    'realtime',
    `openai-insecure-api-key.${KEYS.voice}`,
    'openai-beta.realtime-v1',
  ]);
  const events: ServerEvent[] = [];
  ws.on('message', (data: Buffer) => events.push(JSON.parse(data.toString()) as ServerEvent));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  assert.equal(ws.protocol, 'realtime');
  ws.send(JSON.stringify({ type: 'response.create', response: { output_modalities: ['text'] } }));
  await new Promise<void>((resolve) => {
    ws.on('message', () => {
      if (events.some((e) => e.type === 'response.done')) resolve();
    });
  });
  ws.close();
  await closed(ws);
  const rows = rowsOf('team-voice');
  assert.equal(rows.length, before + 1);
  assert.equal(rows.at(-1)?.['model'], 'gpt-realtime-mini');
  const done = events.find((e) => e.type === 'response.done') as ServerEvent;
  assert.equal(rows.at(-1)?.['completion_tokens'], usageOf(done)['output_tokens']);
});

test('the open-session gauge and the token metrics see Realtime sessions', async () => {
  const client = new OpenAI({ baseURL: `${gw.url}/openai/v1`, apiKey: KEYS.voice });
  const rt = await OpenAIRealtimeWS.create(client, { model: 'gpt-realtime', options: PLAIN_TCP });
  const created = nextEvent(rt, 'session.created');
  await opened(rt);
  await created;
  const during = await (await fetch(`${gw.url}/metrics`)).text();
  assert.match(during, /^tokenmeter_realtime_sessions 1$/m);
  await turn(rt, 'Metrics, please.', ['text']);
  rt.close();
  await closed(rt.socket);
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  assert.match(text, /operation="realtime"/);
  let after = text;
  for (let i = 0; i < 50 && !/^tokenmeter_realtime_sessions 0$/m.test(after); i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    after = await (await fetch(`${gw.url}/metrics`)).text();
  }
  assert.match(after, /^tokenmeter_realtime_sessions 0$/m);
});
