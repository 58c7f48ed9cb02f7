import type { BackendAuth, ProviderAdapter, RouteMatch, StreamTap, StreamTapOptions } from '../types.js';
import { createChatStreamTap } from './chat-stream.js';
import { openAiPromptText } from './prompt-text.js';
import { inspectOpenAiRequest, prepareOpenAiBody } from './request.js';
import { createResponsesStreamTap } from './responses-stream.js';
import { matchOpenAiRoute, OPERATIONS } from './routes.js';
import { extractOpenAiUsage } from './usage.js';

export { OPERATIONS, matchOpenAiRoute } from './routes.js';
export { readChatUsage, readResponsesUsage, extractOpenAiUsage } from './usage.js';
export { readChatChunk, createChatStreamTap } from './chat-stream.js';
export { readResponsesEvent, createResponsesStreamTap } from './responses-stream.js';
export { inspectOpenAiRequest, prepareOpenAiBody } from './request.js';
export { openAiPromptText } from './prompt-text.js';

/** The stream tap for a route of the OpenAI API shape. */
export function createOpenAiStreamTap(route: RouteMatch, options: StreamTapOptions): StreamTap {
  return route.operation === OPERATIONS.responses
    ? createResponsesStreamTap(options)
    : createChatStreamTap(options);
}

/** Members of a non-streamed answer holding output: chat / completions `choices`, Responses `output`. */
const OUTPUT_MEMBERS: readonly string[] = ['choices', 'output'];

/** What differs between services that speak the OpenAI API shape. */
export interface OpenAiCompatibleSpec {
  type: string;
  matchRoute(method: string, subPath: string): RouteMatch | undefined;
  backendAuth(apiKey: string): BackendAuth;
}

/**
 * An adapter for a service speaking the OpenAI API shape: request inspection, body preparation,
 * usage extraction and stream taps are shared; routes and credentials come from `spec`.
 */
export function createOpenAiCompatibleAdapter(spec: OpenAiCompatibleSpec): ProviderAdapter {
  return {
    type: spec.type,
    // Every OpenAI-shaped service (Azure included) meters the same four operations, and
    // Realtime sessions over WebSocket (src/realtime/, not through matchRoute).
    operations: [...Object.values(OPERATIONS), 'realtime'],
    matchRoute: (method, subPath) => spec.matchRoute(method, subPath),
    inspectRequest: inspectOpenAiRequest,
    prepareBody: prepareOpenAiBody,
    extractUsage: (route, body) => extractOpenAiUsage(route.operation, body),
    // Embeddings `data` is not generated text.
    outputMembers: (route) => (route.operation === OPERATIONS.embeddings ? [] : OUTPUT_MEMBERS),
    createStreamTap: createOpenAiStreamTap,
    promptText: openAiPromptText,
    backendAuth: (apiKey) => spec.backendAuth(apiKey),
  };
}

/**
 * The `openai` adapter: api.openai.com and OpenAI-compatible servers, `Authorization: Bearer`.
 *
 * @example
 * const route = openAiAdapter.matchRoute('POST', '/chat/completions'); // { operation: 'chat.completions', … }
 */
export const openAiAdapter: ProviderAdapter = createOpenAiCompatibleAdapter({
  type: 'openai',
  matchRoute: matchOpenAiRoute,
  backendAuth: (apiKey) => ({ header: 'authorization', value: `Bearer ${apiKey}` }),
});
