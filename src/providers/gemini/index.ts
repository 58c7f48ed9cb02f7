import type { ProviderAdapter, RouteMatch, StreamTap, StreamTapOptions } from '../types.js';
import { createGeminiJsonArrayTap } from './json-array-stream.js';
import { geminiPromptText, inspectGeminiRequest, prepareGeminiBody } from './request.js';
import { extractGeminiUsage } from './response.js';
import { matchGeminiRoute, OPERATIONS, takeGeminiQueryCredential, wantsSse } from './routes.js';
import { createGeminiSseTap } from './sse-stream.js';

export { OPERATIONS, matchGeminiRoute, takeGeminiQueryCredential, wantsSse } from './routes.js';
export { readGeminiCounts, mergeGeminiCounts, normaliseGeminiUsage, type GeminiCounts } from './usage.js';
export { readGeminiChunk, extractGeminiUsage, createGeminiStreamState, type ChunkFacts } from './response.js';
export { createGeminiSseTap } from './sse-stream.js';
export {
  createJsonArrayScanner,
  createGeminiJsonArrayTap,
  type JsonArrayScanner,
} from './json-array-stream.js';
export { inspectGeminiRequest, prepareGeminiBody, geminiPromptText } from './request.js';

/**
 * The stream tap of a streamGenerateContent answer: SSE when the answer is an event stream, else
 * the JSON array. The answer decides, not what the call asked for (`alt=sse`): a backend that
 * answers the other framing is still metered. Without a content type, the route's `alt` decides.
 */
export function createGeminiStreamTap(route: RouteMatch, options: StreamTapOptions): StreamTap {
  const sse =
    options.contentType === undefined ? wantsSse(route) : options.contentType.includes('text/event-stream');
  return sse ? createGeminiSseTap(options) : createGeminiJsonArrayTap(options);
}

/**
 * The `gemini` adapter: the Gemini API (generativelanguage.googleapis.com) and Vertex AI's
 * publisher-model routes, key in `x-goog-api-key` (https://ai.google.dev/api#authentication).
 * Bodies go through untouched; usage is read from `usageMetadata`, which every answer and every
 * stream chunk carries.
 *
 * @example
 * const route = geminiAdapter.matchRoute('POST', '/v1beta/models/gemini-2.5-flash:generateContent');
 * // { operation: 'generateContent', metered: true, pathModel: 'gemini-2.5-flash', … }
 */
export const geminiAdapter: ProviderAdapter = {
  type: 'gemini',
  // countTokens is forwarded but not metered: no record carries it.
  operations: [OPERATIONS.generateContent, OPERATIONS.streamGenerateContent],
  matchRoute: matchGeminiRoute,
  inspectRequest: inspectGeminiRequest,
  prepareBody: prepareGeminiBody,
  // countTokens answers `{ totalTokens }`: the size of a prompt, not tokens consumed.
  extractUsage: (route, body) =>
    route.operation === OPERATIONS.countTokens ? { usage: {} } : extractGeminiUsage(body),
  outputMembers: () => ['candidates'],
  /**
   * Streams are relayed through a tap whatever their framing: with `alt=sse` when the answer is
   * an event stream (an error answer is plain JSON), and always for the streamed JSON array,
   * whose content type is application/json.
   */
  // Both framings of streamGenerateContent are streams (an error answered as one JSON object is
  // read as the array's only element).
  isStreamedResponse: (route) => route.operation === OPERATIONS.streamGenerateContent,
  takeQueryCredential: takeGeminiQueryCredential,
  createStreamTap: createGeminiStreamTap,
  promptText: geminiPromptText,
  backendAuth: (apiKey) => ({ header: 'x-goog-api-key', value: apiKey }),
};
