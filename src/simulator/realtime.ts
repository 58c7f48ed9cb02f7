import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { makeId } from './common.js';
import { collectText, countTextTokens, generateTokens } from './text.js';

/**
 * The simulator's Realtime WebSocket (OpenAI `/v1/realtime`, Azure `/openai/realtime` and
 * `/openai/v1/realtime`), GA event names, shaped after recorded sessions
 * (test/fixtures/captures/realtime/INDEX.md). Usage is deterministic:
 * - input text tokens: the o200k count of every text item in the conversation (the client's
 *   items and the assistant's earlier transcripts: context carries over, as on the real service);
 * - input audio tokens: committed input audio at one token per 4800 bytes of pcm16 (100 ms at
 *   24 kHz), plus the assistant's earlier audio output;
 * - cached tokens: what the previous response read as input (its text and audio), in full;
 * - output: `completionTokens` text tokens (the transcript, for audio), plus twice that in
 *   audio tokens when the response speaks (`output_modalities` holds `audio`, the default).
 * A response is generated on `response.create` only (turn detection is not simulated).
 */

/** Paths the simulator serves its Realtime WebSocket at (the query is ignored). */
const REALTIME_PATHS: ReadonlySet<string> = new Set([
  '/v1/realtime',
  '/realtime',
  '/openai/realtime',
  '/openai/v1/realtime',
]);

/**
 * Failures on demand. At the upgrade, the `x-simulator-fail` header `401`, `429` or `500`
 * refuses it with that HTTP error. Per response, `response.metadata.simulator_fail`:
 * - `close-mid-response`: after a few deltas the simulator closes with 1011, no response.done;
 * - `cut-mid-response`: after a few deltas the TCP connection is destroyed (the peer sees 1006);
 * - `non-json-frame`: a text frame that is not JSON goes out before response.done; the
 *   response completes normally.
 */
export const REALTIME_FAIL_HEADER = 'x-simulator-fail';
const REFUSALS: Readonly<Record<string, number>> = { '401': 401, '429': 429, '500': 500 };
/** Deltas sent before a mid-response failure. */
const DELTAS_BEFORE_FAILURE = 2;
/** Bytes of pcm16 audio per audio token (100 ms at 24 kHz, mono). */
const AUDIO_BYTES_PER_TOKEN = 4800;
/** Audio bytes per output audio delta (one per output audio token). */
const AUDIO_DELTA_BYTES = 240;
export const NOT_JSON_FRAME = 'simulator: this frame is not JSON';

/** Options of the Realtime simulator. */
export interface RealtimeSimulatorOptions {
  completionTokens: number;
  tokensPerSecond: number;
  /** Called for every upgrade request received (refused ones included). */
  onSession: () => void;
  /** Called for every response.done sent, with the usage it reported. */
  onResponse: (path: string, usage: { promptTokens: number; completionTokens: number }) => void;
  /** Called for every response that failed (closed, cut) and every refused upgrade. */
  onError: () => void;
}

/** Attaches the Realtime WebSocket to the simulator's HTTP server. */
export function attachRealtimeSimulator(server: Server, options: RealtimeSimulatorOptions): void {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  let sequence = 0;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    options.onSession();
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (!REALTIME_PATHS.has(path)) {
      refuse(socket, 404, `Invalid URL (GET ${path})`);
      options.onError();
      return;
    }
    const fail = req.headers[REALTIME_FAIL_HEADER];
    const status = typeof fail === 'string' ? REFUSALS[fail] : undefined;
    if (status !== undefined) {
      refuse(socket, status, `Simulated failure ${status}.`);
      options.onError();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const model = new URL(req.url ?? '/', 'http://simulator').searchParams;
      const name = model.get('model') ?? model.get('deployment') ?? 'gpt-realtime';
      runSession(ws, { ...options, model: name, path: req.url ?? '/', session: ++sequence });
    });
  });
  server.on('close', () => wss.close());
}

interface SessionContext extends RealtimeSimulatorOptions {
  model: string;
  path: string;
  session: number;
}

/** What the conversation holds, for the next response's input. */
interface Conversation {
  textTokens: number;
  audioTokens: number;
  /** Input audio appended and not committed yet, bytes. */
  pendingAudioBytes: number;
  cachedText: number;
  cachedAudio: number;
  outputModalities: string[];
  responses: number;
  events: number;
}

function runSession(ws: WebSocket, ctx: SessionContext): void {
  const conversation: Conversation = {
    textTokens: 0,
    audioTokens: 0,
    pendingAudioBytes: 0,
    cachedText: 0,
    cachedAudio: 0,
    outputModalities: ['audio'],
    responses: 0,
    events: 0,
  };
  const sessionId = makeId('sess_sim', ctx.session);
  const send = (event: Record<string, unknown>): void => {
    if (ws.readyState !== ws.OPEN) return;
    ws.send(
      JSON.stringify({ type: event['type'], event_id: makeId('event_sim', ++conversation.events), ...event }),
    );
  };
  const session = (): Record<string, unknown> => ({
    type: 'realtime',
    object: 'realtime.session',
    id: sessionId,
    model: ctx.model,
    output_modalities: conversation.outputModalities,
    instructions: '',
    tools: [],
    tool_choice: 'auto',
    max_output_tokens: 'inf',
  });
  send({ type: 'session.created', session: session() });
  // Responses are generated one after the other, as the service does per conversation.
  let turn = Promise.resolve();
  ws.on('message', (data: RawData, binary: boolean) => {
    if (binary) return;
    const event = parseEvent(rawText(data));
    if (event === undefined) {
      send({
        type: 'error',
        error: { type: 'invalid_request_error', code: 'invalid_json', message: 'Invalid JSON.', param: null },
      });
      return;
    }
    switch (event['type']) {
      case 'session.update': {
        const update = asObject(event['session']);
        const modalities = update['output_modalities'];
        if (Array.isArray(modalities)) conversation.outputModalities = modalities.map(String);
        send({ type: 'session.updated', session: session() });
        break;
      }
      case 'input_audio_buffer.append':
        conversation.pendingAudioBytes += base64Bytes(event['audio']);
        break;
      case 'input_audio_buffer.commit': {
        const itemId = makeId('item_sim_in', conversation.events + 1);
        conversation.audioTokens += Math.ceil(conversation.pendingAudioBytes / AUDIO_BYTES_PER_TOKEN);
        conversation.pendingAudioBytes = 0;
        send({ type: 'input_audio_buffer.committed', previous_item_id: null, item_id: itemId });
        send({
          type: 'conversation.item.added',
          previous_item_id: null,
          item: {
            id: itemId,
            type: 'message',
            status: 'completed',
            role: 'user',
            content: [{ type: 'input_audio' }],
          },
        });
        break;
      }
      case 'conversation.item.create': {
        const item = asObject(event['item']);
        conversation.textTokens += countTextTokens(collectText(item['content']).join(''));
        const added = { ...item, id: makeId('item_sim_in', conversation.events + 1), status: 'completed' };
        send({ type: 'conversation.item.added', previous_item_id: null, item: added });
        send({ type: 'conversation.item.done', previous_item_id: null, item: added });
        break;
      }
      case 'response.create': {
        const response = asObject(event['response']);
        turn = turn.then(() => respond(ws, ctx, conversation, response, send)).catch(() => ws.terminate());
        break;
      }
      default:
        break;
    }
  });
}

async function respond(
  ws: WebSocket,
  ctx: SessionContext,
  conversation: Conversation,
  request: Record<string, unknown>,
  send: (event: Record<string, unknown>) => void,
): Promise<void> {
  if (ws.readyState !== ws.OPEN) return;
  const number = ++conversation.responses;
  const responseId = makeId('resp_sim', ctx.session * 1000 + number);
  const itemId = makeId('item_sim_out', ctx.session * 1000 + number);
  const modalities = Array.isArray(request['output_modalities'])
    ? request['output_modalities'].map(String)
    : conversation.outputModalities;
  const audio = modalities.includes('audio');
  const metadata = asObject(request['metadata']);
  const fail = typeof metadata['simulator_fail'] === 'string' ? metadata['simulator_fail'] : undefined;
  const base = {
    object: 'realtime.response',
    id: responseId,
    conversation_id: makeId('conv_sim', ctx.session),
    output_modalities: modalities,
    max_output_tokens: 'inf',
    audio: { output: { format: { type: 'audio/pcm', rate: 24000 }, voice: 'alloy' } },
    metadata: Object.keys(metadata).length > 0 ? metadata : null,
  };
  send({
    type: 'response.created',
    response: { ...base, status: 'in_progress', status_details: null, output: [], usage: null },
  });
  const item = { id: itemId, type: 'message', status: 'in_progress', role: 'assistant', content: [] };
  send({ type: 'response.output_item.added', response_id: responseId, output_index: 0, item });
  send({ type: 'conversation.item.added', previous_item_id: null, item });
  const part = audio ? { type: 'audio', transcript: '' } : { type: 'text', text: '' };
  const at = { response_id: responseId, item_id: itemId, output_index: 0, content_index: 0 };
  send({ type: 'response.content_part.added', ...at, part });
  const words = generateTokens(ctx.completionTokens, ctx.session * 1000 + number);
  const textDelta = audio ? 'response.output_audio_transcript.delta' : 'response.output_text.delta';
  for (let i = 0; i < words.length; i += 1) {
    if (fail !== undefined && i === DELTAS_BEFORE_FAILURE) {
      if (fail === 'close-mid-response') {
        ws.close(1011, 'simulated failure');
        ctx.onError();
        return;
      }
      if (fail === 'cut-mid-response') {
        ws.terminate();
        ctx.onError();
        return;
      }
    }
    if (audio) {
      send({ type: 'response.output_audio.delta', ...at, delta: pcmSilence(AUDIO_DELTA_BYTES * 2) });
    }
    send({ type: textDelta, ...at, delta: words[i] });
    if (ctx.tokensPerSecond > 0) await pause(1000 / ctx.tokensPerSecond);
    if (ws.readyState !== ws.OPEN) return;
  }
  const text = words.join('');
  if (audio) {
    send({ type: 'response.output_audio.done', ...at });
    send({ type: 'response.output_audio_transcript.done', ...at, transcript: text });
  } else send({ type: 'response.output_text.done', ...at, text });
  const donePart = audio ? { type: 'audio', transcript: text } : { type: 'text', text };
  send({ type: 'response.content_part.done', ...at, part: donePart });
  const doneItem = {
    ...item,
    status: 'completed',
    content: [audio ? { type: 'output_audio', transcript: text } : { type: 'output_text', text }],
  };
  send({ type: 'response.output_item.done', response_id: responseId, output_index: 0, item: doneItem });
  if (fail === 'non-json-frame' && ws.readyState === ws.OPEN) ws.send(NOT_JSON_FRAME);
  const outputText = words.length;
  const outputAudio = audio ? 2 * words.length : 0;
  const inputText = conversation.textTokens;
  const inputAudio = conversation.audioTokens;
  const usage = {
    total_tokens: inputText + inputAudio + outputText + outputAudio,
    input_tokens: inputText + inputAudio,
    output_tokens: outputText + outputAudio,
    input_token_details: {
      text_tokens: inputText,
      audio_tokens: inputAudio,
      image_tokens: 0,
      cached_tokens: conversation.cachedText + conversation.cachedAudio,
      cached_tokens_details: {
        text_tokens: conversation.cachedText,
        audio_tokens: conversation.cachedAudio,
        image_tokens: 0,
      },
    },
    output_token_details: { text_tokens: outputText, audio_tokens: outputAudio },
  };
  send({
    type: 'response.done',
    response: { ...base, status: 'completed', status_details: null, output: [doneItem], usage },
  });
  ctx.onResponse(ctx.path, { promptTokens: usage.input_tokens, completionTokens: usage.output_tokens });
  // The next response reads this one's input from the cache, and its output as context.
  conversation.cachedText = inputText;
  conversation.cachedAudio = inputAudio;
  conversation.textTokens += outputText;
  conversation.audioTokens += outputAudio;
}

function refuse(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code: null } });
  socket.end(
    `HTTP/1.1 ${status} Simulated\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function parseEvent(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function asObject(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

function base64Bytes(value: unknown): number {
  return typeof value === 'string' ? Buffer.from(value, 'base64').length : 0;
}

/** Base64 of `bytes` zero bytes: pcm16 silence. */
function pcmSilence(bytes: number): string {
  return Buffer.alloc(bytes).toString('base64');
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
