import { answerModel, completionBudget, isStream, makeId } from './common.js';
import { eventFrame, type StreamPlan } from './sse.js';
import { countMessagesTokens, generateTokens } from './text.js';
import type { Route } from './routes.js';
import { SimulatorHttpError, type Handler, type HandlerResult, type Operation } from './types.js';

/**
 * The Anthropic Messages API (https://docs.anthropic.com/en/api/messages), in the shapes of the
 * anthropic-messages-* captures: POST /v1/messages (JSON or SSE) and
 * POST /v1/messages/count_tokens. Prompt tokens count `system` as a leading system message and
 * the messages like chat messages (text.ts), so count_tokens agrees with what /v1/messages
 * reports. The simulator never caches: both cache counts are always 0.
 */

/** The header every Anthropic request must carry (https://docs.anthropic.com/en/api/versioning). */
export const ANTHROPIC_VERSION_HEADER = 'anthropic-version';

/** The operation of each Anthropic path. */
const ANTHROPIC_PATHS: ReadonlyMap<string, Operation> = new Map([
  ['/v1/messages', 'messages'],
  ['/v1/messages/count_tokens', 'count_tokens'],
]);

/**
 * Matches `/v1/messages` and `/v1/messages/count_tokens` (trailing slashes already removed).
 * The route requires `anthropic-version`, answers errors in Anthropic's shape and fails streams
 * with Anthropic's `error` event.
 */
export function matchAnthropicRoute(path: string): Route | undefined {
  const operation = ANTHROPIC_PATHS.get(path);
  if (operation === undefined) return undefined;
  return {
    flavor: 'anthropic',
    operation,
    requiresApiVersion: false,
    requiredHeader: ANTHROPIC_VERSION_HEADER,
    errorBody: anthropicErrorBody,
    streamErrorFrame: ANTHROPIC_STREAM_ERROR_FRAME,
  };
}

/** Anthropic's error type for an HTTP status (https://docs.anthropic.com/en/api/errors). */
function errorType(status: number): string {
  switch (status) {
    case 401:
      return 'authentication_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 529:
      return 'overloaded_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

/** An error answered in Anthropic's shape `{type: 'error', error: {type, message}}`. */
export function anthropicErrorBody(error: SimulatorHttpError): unknown {
  return { type: 'error', error: { type: errorType(error.status), message: error.message } };
}

/**
 * The event a Messages stream fails with mid-way, as the API sends it when it is overloaded
 * (https://docs.anthropic.com/en/docs/build-with-claude/streaming#error-events).
 */
export const ANTHROPIC_STREAM_ERROR_FRAME = eventFrame('error', {
  type: 'error',
  error: { type: 'overloaded_error', message: 'Overloaded' },
});

/** Prompt tokens of a Messages / count_tokens body: `system` first, then the messages. */
function promptTokens(body: Record<string, unknown>): number {
  const messages: unknown = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new SimulatorHttpError(400, 'messages: at least one message is required');
  }
  const system = body.system;
  const withSystem: readonly unknown[] =
    system === undefined ? messages : [{ role: 'system', content: system }, ...(messages as unknown[])];
  return countMessagesTokens(withSystem);
}

/** POST /v1/messages/count_tokens: `{input_tokens}`. Counting is free: it adds no tokens to the stats. */
export const handleAnthropicCountTokens: Handler = (request): HandlerResult => {
  answerModel(request);
  const inputTokens = promptTokens(request.body);
  return {
    kind: 'json',
    body: { input_tokens: inputTokens },
    usage: { promptTokens: 0, completionTokens: 0 },
  };
};

/**
 * POST /v1/messages. `max_tokens` is required, as by the API, and caps the answer
 * (`stop_reason: "max_tokens"`). Streams follow anthropic-messages-stream.sse: `message_start`
 * (input tokens and a placeholder `output_tokens: 1`), a text block with one delta per token,
 * a `message_delta` whose cumulative `output_tokens` is the final count, and `message_stop`.
 */
export const handleAnthropicMessages: Handler = (request, options): HandlerResult => {
  const { body } = request;
  const model = answerModel(request);
  if (body.max_tokens === undefined) throw new SimulatorHttpError(400, 'max_tokens: Field required');
  const input = promptTokens(body);
  const budget = completionBudget(options.completionTokens, body, ['max_tokens']);
  const tokens = generateTokens(budget.tokens, 0);
  const usage = { promptTokens: input, completionTokens: budget.tokens };
  const id = makeId('msg_', request.sequence);
  const stopReason = budget.truncated ? 'max_tokens' : 'end_turn';
  const cache = { cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  if (!isStream(body)) {
    return {
      kind: 'json',
      usage,
      body: {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [{ type: 'text', text: tokens.join('') }],
        stop_reason: stopReason,
        stop_sequence: null,
        usage: { input_tokens: input, ...cache, output_tokens: budget.tokens },
      },
    };
  }
  return { kind: 'stream', usage, plan: messagesStream({ id, model, input, tokens, stopReason, cache }) };
};

interface StreamContext {
  id: string;
  model: string;
  input: number;
  tokens: string[];
  stopReason: string;
  cache: Record<string, number>;
}

function messagesStream(ctx: StreamContext): StreamPlan {
  const start = {
    type: 'message_start',
    message: {
      id: ctx.id,
      type: 'message',
      role: 'assistant',
      model: ctx.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: ctx.input, ...ctx.cache, output_tokens: 1 },
    },
  };
  const head =
    eventFrame('message_start', start) +
    eventFrame('content_block_start', {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'text', text: '' },
    }) +
    // The API writes this one event with a space after the colon (see the captures).
    'event: ping\ndata: {"type": "ping"}\n\n';
  const steps = ctx.tokens.map((text) =>
    eventFrame('content_block_delta', {
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'text_delta', text },
    }),
  );
  const tail =
    eventFrame('content_block_stop', { type: 'content_block_stop', index: 0 }) +
    eventFrame('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: ctx.stopReason, stop_sequence: null },
      usage: { output_tokens: ctx.tokens.length },
    }) +
    eventFrame('message_stop', { type: 'message_stop' });
  return { head, steps, tail };
}
