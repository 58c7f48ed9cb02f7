// Stream bodies of every stream format, built to order for the stream hardening tests: an
// event of a chosen size, the provider's usage, the documented end, and what a misbehaving
// backend may send after it. Also the gateway set-up that serves every format from one rogue
// backend.
import { httpChunk, httpHead, type RogueStep } from '../helpers/rogue-backend.js';
import { createRandom, splitRandomly } from '../sse/chunking.js';

export const KEY = 'team-streams-key-1';

/** Token counts a stream reports; totals are prompt + completion. */
export interface Counts {
  prompt: number;
  completion: number;
}

/** One stream as the backend sends it, and the part the gateway must strip. */
export interface BuiltStream {
  bytes: Buffer;
  /** The usage-only event the gateway asked for and must remove (chat formats, when it injected). */
  injected?: Buffer;
}

export interface StreamSpec {
  /** Bytes of generated text in the large event (0: no large event). */
  bigBytes: number;
  /** The usage reported before the end; undefined: the backend reports none. */
  usage?: Counts;
  /** Put the usage inside the large event itself (formats whose usage can ride on a content chunk). */
  usageInBigEvent?: boolean;
  /** Events sent after the documented end, carrying this (bigger) usage. */
  after?: Counts;
}

export interface StreamFormat {
  name: string;
  /** The backend id in the gateway config below. */
  backend: string;
  path: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
  contentType: string;
  build(spec: StreamSpec): BuiltStream;
}

/** Gateway config (apart from gateway.*) serving every format from one rogue backend. */
export function gatewayConfig(rogueUrl: string): Record<string, unknown> {
  return {
    backends: [
      { id: 'oai', type: 'openai', url: `${rogueUrl}/v1`, apiKey: 'sk-up' },
      { id: 'oai-compat', type: 'openai', url: `${rogueUrl}/v1`, apiKey: 'sk-up', streamUsage: 'never' },
      { id: 'az', type: 'azure-openai', url: rogueUrl, apiKey: 'az-up' },
      { id: 'ant', type: 'anthropic', url: rogueUrl, apiKey: 'ant-up' },
      { id: 'gem', type: 'gemini', url: rogueUrl, apiKey: 'gem-up' },
    ],
    apis: [
      { id: 'openai', path: '/openai/v1', type: 'openai', backend: 'oai' },
      { id: 'compat', path: '/compat/v1', type: 'openai', backend: 'oai-compat' },
      { id: 'azure', path: '/azure', type: 'azure-openai', backend: 'az' },
      { id: 'anthropic', path: '/anthropic', type: 'anthropic', backend: 'ant' },
      { id: 'gemini', path: '/gemini', type: 'gemini', backend: 'gem' },
    ],
    products: [{ id: 'std', apis: ['openai', 'compat', 'azure', 'anthropic', 'gemini'] }],
    subscriptions: [{ id: 'team-s', key: KEY, product: 'std' }],
  };
}

const sse = (data: unknown, event?: string): string =>
  `${event === undefined ? '' : `event: ${event}\n`}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;

/** Text of `bytes` UTF-8 bytes: two-byte characters, so random splits fall inside characters. */
export function bigText(bytes: number): string {
  return 'é'.repeat(Math.floor(bytes / 2));
}

const chatUsage = (c: Counts): Record<string, number> => ({
  prompt_tokens: c.prompt,
  completion_tokens: c.completion,
  total_tokens: c.prompt + c.completion,
});

function chatLike(
  name: string,
  backend: string,
  path: string,
  headers: Record<string, string>,
  kind: 'chat' | 'text',
): StreamFormat {
  const piece = (text: string): unknown =>
    kind === 'chat'
      ? {
          id: 'c1',
          object: 'chat.completion.chunk',
          model: 'gpt-4o-mini',
          choices: [{ index: 0, delta: { content: text } }],
        }
      : {
          id: 'c1',
          object: 'text_completion',
          model: 'gpt-3.5-turbo-instruct',
          choices: [{ index: 0, text }],
        };
  return {
    name,
    backend,
    path,
    headers,
    body:
      kind === 'chat'
        ? { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Write a long text.' }] }
        : { model: 'gpt-3.5-turbo-instruct', stream: true, prompt: 'Write a long text.' },
    contentType: 'text/event-stream',
    build(spec) {
      const usageChunk = (c: Counts): string =>
        sse({ id: 'c1', model: 'gpt-4o-mini', choices: [], usage: chatUsage(c) });
      const parts = [sse(piece('Hello'))];
      if (spec.bigBytes > 0) parts.push(sse(piece(bigText(spec.bigBytes))));
      parts.push(sse(piece('!')));
      const injected = spec.usage === undefined ? undefined : usageChunk(spec.usage);
      if (injected !== undefined) parts.push(injected);
      parts.push(sse('[DONE]'));
      if (spec.after !== undefined) parts.push(sse(piece('more')), usageChunk(spec.after), sse('[DONE]'));
      const built: BuiltStream = { bytes: Buffer.from(parts.join('')) };
      if (injected !== undefined) built.injected = Buffer.from(injected);
      return built;
    },
  };
}

const auth = { authorization: `Bearer ${KEY}` };

export const CHAT = chatLike('chat', 'oai', '/openai/v1/chat/completions', auth, 'chat');
export const COMPLETIONS = chatLike('completions', 'oai', '/openai/v1/completions', auth, 'text');
export const AZURE = chatLike(
  'azure chat',
  'az',
  '/azure/openai/deployments/dep1/chat/completions?api-version=2024-10-21',
  { 'api-key': KEY },
  'chat',
);
/** An OpenAI-compatible backend the gateway never asks for usage (it sends none). */
export const COMPAT = chatLike(
  'chat without usage',
  'oai-compat',
  '/compat/v1/chat/completions',
  auth,
  'chat',
);

export const RESPONSES: StreamFormat = {
  name: 'responses',
  backend: 'oai',
  path: '/openai/v1/responses',
  headers: auth,
  body: { model: 'gpt-5', stream: true, input: 'Write a long text.' },
  contentType: 'text/event-stream',
  build(spec) {
    const response = (status: string, c: Counts | undefined): unknown => ({
      id: 'resp_1',
      model: 'gpt-5',
      status,
      usage:
        c === undefined
          ? null
          : { input_tokens: c.prompt, output_tokens: c.completion, total_tokens: c.prompt + c.completion },
    });
    const delta = (text: string): string =>
      sse({ type: 'response.output_text.delta', item_id: 'm1', delta: text }, 'response.output_text.delta');
    const parts = [
      sse({ type: 'response.created', response: response('in_progress', undefined) }, 'response.created'),
    ];
    parts.push(delta('Hello'));
    if (spec.bigBytes > 0) parts.push(delta(bigText(spec.bigBytes)));
    parts.push(
      sse({ type: 'response.completed', response: response('completed', spec.usage) }, 'response.completed'),
    );
    if (spec.after !== undefined)
      parts.push(
        delta('more'),
        sse(
          { type: 'response.completed', response: response('completed', spec.after) },
          'response.completed',
        ),
      );
    return { bytes: Buffer.from(parts.join('')) };
  },
};

export const ANTHROPIC: StreamFormat = {
  name: 'anthropic',
  backend: 'ant',
  path: '/anthropic/v1/messages',
  headers: { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' },
  body: {
    model: 'claude-sonnet-4-5',
    max_tokens: 64000,
    stream: true,
    messages: [{ role: 'user', content: 'Hi' }],
  },
  contentType: 'text/event-stream',
  build(spec) {
    const delta = (text: string): string =>
      sse(
        { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } },
        'content_block_delta',
      );
    const start = {
      type: 'message_start',
      message: {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: 'claude-sonnet-4-5',
        content: [],
        usage: { input_tokens: spec.usage?.prompt ?? 0, output_tokens: 1 },
      },
    };
    const messageDelta = (c: Counts): string =>
      sse(
        { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: c.completion } },
        'message_delta',
      );
    const parts = [
      sse(start, 'message_start'),
      sse(
        { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
        'content_block_start',
      ),
      sse({ type: 'ping' }, 'ping'),
      delta('Hello'),
    ];
    if (spec.bigBytes > 0) parts.push(delta(bigText(spec.bigBytes)));
    parts.push(sse({ type: 'content_block_stop', index: 0 }, 'content_block_stop'));
    if (spec.usage !== undefined) parts.push(messageDelta(spec.usage));
    parts.push(sse({ type: 'message_stop' }, 'message_stop'));
    if (spec.after !== undefined)
      parts.push(
        sse(
          {
            ...start,
            message: { ...start.message, usage: { input_tokens: spec.after.prompt, output_tokens: 1 } },
          },
          'message_start',
        ),
        messageDelta(spec.after),
        sse({ type: 'message_stop' }, 'message_stop'),
      );
    return { bytes: Buffer.from(parts.join('')) };
  },
};

const geminiUsage = (c: Counts): Record<string, number> => ({
  promptTokenCount: c.prompt,
  candidatesTokenCount: c.completion,
  totalTokenCount: c.prompt + c.completion,
});

/** The chunks of a Gemini stream: text, the large one, the finishing one with the usage. */
function geminiChunks(spec: StreamSpec): unknown[] {
  const chunk = (text: string, usage: Counts | undefined, finish: boolean): unknown => ({
    candidates: [
      {
        content: { role: 'model', parts: [{ text }] },
        index: 0,
        ...(finish ? { finishReason: 'STOP' } : {}),
      },
    ],
    ...(usage === undefined ? {} : { usageMetadata: geminiUsage(usage) }),
    modelVersion: 'gemini-2.5-flash',
  });
  const chunks = [
    chunk(
      'Hello',
      spec.usage === undefined ? undefined : { prompt: spec.usage.prompt, completion: 1 },
      false,
    ),
  ];
  if (spec.usageInBigEvent === true) {
    chunks.push(chunk(bigText(spec.bigBytes), spec.usage, true));
    return chunks;
  }
  if (spec.bigBytes > 0) chunks.push(chunk(bigText(spec.bigBytes), undefined, false));
  chunks.push(chunk('!', spec.usage, true));
  return chunks;
}

export const GEMINI_SSE: StreamFormat = {
  name: 'gemini alt=sse',
  backend: 'gem',
  path: '/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse',
  headers: { 'x-goog-api-key': KEY },
  body: { contents: [{ role: 'user', parts: [{ text: 'Write a long text.' }] }] },
  contentType: 'text/event-stream',
  build(spec) {
    // Gemini frames its events with CRLF.
    const text = geminiChunks(spec)
      .map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`)
      .join('');
    return { bytes: Buffer.from(text) };
  },
};

export const GEMINI_ARRAY: StreamFormat = {
  name: 'gemini JSON array',
  backend: 'gem',
  path: '/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent',
  headers: { 'x-goog-api-key': KEY },
  body: GEMINI_SSE.body,
  contentType: 'application/json; charset=UTF-8',
  build(spec) {
    let text = `[${geminiChunks(spec)
      .map((c) => JSON.stringify(c))
      .join(',\r\n')}]`;
    if (spec.after !== undefined) {
      const late = {
        candidates: [{ content: { parts: [{ text: 'more' }] }, finishReason: 'STOP' }],
        usageMetadata: geminiUsage(spec.after),
      };
      // What a misbehaving backend might send after the closing bracket: another element, another array.
      text += `,\r\n${JSON.stringify(late)}]\r\n[${JSON.stringify(late)}]`;
    }
    return { bytes: Buffer.from(text) };
  },
};

/** Every format, SSE and JSON array. */
export const ALL_FORMATS: readonly StreamFormat[] = [
  CHAT,
  COMPLETIONS,
  AZURE,
  RESPONSES,
  ANTHROPIC,
  GEMINI_SSE,
  GEMINI_ARRAY,
];

/** A chunked HTTP answer carrying `bytes` cut at random points (seeded: failures reproduce). */
export function chunkedAnswer(contentType: string, bytes: Buffer, seed: number): RogueStep[] {
  const steps: RogueStep[] = [
    { write: httpHead(200, { 'content-type': contentType, 'transfer-encoding': 'chunked' }) },
  ];
  for (const piece of splitRandomly(bytes, createRandom(seed))) steps.push({ write: httpChunk(piece) });
  steps.push({ write: httpChunk('') });
  return steps;
}

/** `bytes` without the first occurrence of `part`. */
export function without(bytes: Buffer, part: Buffer | undefined): Buffer {
  if (part === undefined) return bytes;
  const at = bytes.indexOf(part);
  if (at === -1) throw new Error('the part to strip is not in the stream');
  return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + part.length)]);
}
