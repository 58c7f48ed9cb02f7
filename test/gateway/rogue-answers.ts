import { PATHS } from './relay-harness.js';

/**
 * Small, well-formed answers of each provider for the rogue backend to send (its misbehaviour
 * is in how they are sent), with the usage a correct meter reads from them.
 */
export interface ProviderCase {
  name: string;
  /** Client path of a non-streamed call, and its request body. */
  path: string;
  body: unknown;
  /** Client path of a streamed call, and its request body (the client asks for usage itself). */
  streamPath: string;
  streamBody: unknown;
  json: string;
  /** The same answer streamed, usage included. */
  sse: string;
  /** The non-streamed answer without any usage. */
  jsonWithoutUsage: string;
  prompt: number;
  completion: number;
}

const sse = (events: [string | undefined, unknown][]): string =>
  events
    .map(
      ([event, data]) => `${event !== undefined ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`,
    )
    .join('');

const chatChunk = (delta: object, usage: object | null = null, choices = true): object => ({
  id: 'chatcmpl-r',
  object: 'chat.completion.chunk',
  model: 'gpt-4o-mini',
  choices: choices ? [{ index: 0, delta, finish_reason: null }] : [],
  usage,
});

export const CHAT: ProviderCase = {
  name: 'openai chat',
  path: PATHS.chat,
  body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello to the rogue backend' }] },
  streamPath: PATHS.chat,
  streamBody: {
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Say hello to the rogue backend' }],
    stream: true,
    stream_options: { include_usage: true },
  },
  json: JSON.stringify({
    id: 'chatcmpl-r',
    object: 'chat.completion',
    model: 'gpt-4o-mini',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello there' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 },
  }),
  jsonWithoutUsage: JSON.stringify({
    id: 'chatcmpl-r',
    object: 'chat.completion',
    model: 'gpt-4o-mini',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello there' }, finish_reason: 'stop' }],
  }),
  sse:
    sse([
      [undefined, chatChunk({ role: 'assistant', content: 'Hello' })],
      [undefined, chatChunk({ content: ' there' })],
      [undefined, chatChunk({}, { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 }, false)],
    ]) + 'data: [DONE]\n\n',
  prompt: 11,
  completion: 7,
};

export const RESPONSES: ProviderCase = {
  name: 'openai responses',
  path: PATHS.responses,
  body: { model: 'gpt-4o-mini', input: 'Say hello' },
  streamPath: PATHS.responses,
  streamBody: { model: 'gpt-4o-mini', input: 'Say hello', stream: true },
  json: JSON.stringify({
    id: 'resp_r',
    object: 'response',
    model: 'gpt-4o-mini',
    status: 'completed',
    output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Hello' }] }],
    usage: { input_tokens: 13, output_tokens: 5, total_tokens: 18 },
  }),
  jsonWithoutUsage: JSON.stringify({
    id: 'resp_r',
    object: 'response',
    model: 'gpt-4o-mini',
    status: 'completed',
    output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Hello' }] }],
  }),
  sse: sse([
    ['response.created', { type: 'response.created', response: { id: 'resp_r', model: 'gpt-4o-mini' } }],
    ['response.output_text.delta', { type: 'response.output_text.delta', delta: 'Hello' }],
    [
      'response.completed',
      {
        type: 'response.completed',
        response: {
          id: 'resp_r',
          model: 'gpt-4o-mini',
          usage: { input_tokens: 13, output_tokens: 5, total_tokens: 18 },
        },
      },
    ],
  ]),
  prompt: 13,
  completion: 5,
};

export const ANTHROPIC: ProviderCase = {
  name: 'anthropic',
  path: PATHS.anthropic,
  body: { model: 'claude-sonnet-4', max_tokens: 20, messages: [{ role: 'user', content: 'Say hello' }] },
  streamPath: PATHS.anthropic,
  streamBody: {
    model: 'claude-sonnet-4',
    max_tokens: 20,
    messages: [{ role: 'user', content: 'Say hello' }],
    stream: true,
  },
  json: JSON.stringify({
    id: 'msg_r',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4',
    content: [{ type: 'text', text: 'Hello' }],
    stop_reason: 'end_turn',
    usage: { input_tokens: 17, output_tokens: 3 },
  }),
  jsonWithoutUsage: JSON.stringify({
    id: 'msg_r',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4',
    content: [{ type: 'text', text: 'Hello' }],
    stop_reason: 'end_turn',
  }),
  sse: sse([
    [
      'message_start',
      {
        type: 'message_start',
        message: {
          id: 'msg_r',
          type: 'message',
          role: 'assistant',
          model: 'claude-sonnet-4',
          content: [],
          usage: { input_tokens: 17, output_tokens: 1 },
        },
      },
    ],
    [
      'content_block_delta',
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } },
    ],
    [
      'message_delta',
      { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 3 } },
    ],
    ['message_stop', { type: 'message_stop' }],
  ]),
  prompt: 17,
  completion: 3,
};

const geminiChunk = (text: string, candidates: number, finished: boolean): object => ({
  candidates: [
    {
      content: { parts: [{ text }], role: 'model' },
      ...(finished ? { finishReason: 'STOP' } : {}),
      index: 0,
    },
  ],
  usageMetadata: { promptTokenCount: 19, candidatesTokenCount: candidates, totalTokenCount: 19 + candidates },
  modelVersion: 'gemini-2.5-flash',
});

export const GEMINI: ProviderCase = {
  name: 'gemini',
  path: PATHS.gemini,
  body: { contents: [{ role: 'user', parts: [{ text: 'Say hello' }] }] },
  streamPath: PATHS.geminiSse,
  streamBody: { contents: [{ role: 'user', parts: [{ text: 'Say hello' }] }] },
  json: JSON.stringify(geminiChunk('Hello there', 4, true)),
  jsonWithoutUsage: JSON.stringify({
    candidates: [{ content: { parts: [{ text: 'Hello there' }], role: 'model' }, finishReason: 'STOP' }],
    modelVersion: 'gemini-2.5-flash',
  }),
  sse: sse([
    [undefined, geminiChunk('Hello', 1, false)],
    [undefined, geminiChunk(' there', 4, true)],
  ]),
  prompt: 19,
  completion: 4,
};

export const PROVIDERS: readonly ProviderCase[] = [CHAT, RESPONSES, ANTHROPIC, GEMINI];
