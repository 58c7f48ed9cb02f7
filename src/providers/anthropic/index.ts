import type { ProviderAdapter } from '../types.js';
import { anthropicPromptText, inspectAnthropicRequest } from './request.js';
import { ANTHROPIC_OPERATIONS, matchAnthropicRoute } from './routes.js';
import { createAnthropicStreamTap } from './stream.js';
import { extractAnthropicUsage } from './usage.js';

export { ANTHROPIC_OPERATIONS, matchAnthropicRoute } from './routes.js';
export { inspectAnthropicRequest, anthropicPromptText } from './request.js';
export { createAnthropicStreamTap, readAnthropicEvent, type AnthropicEventFacts } from './stream.js';
export {
  extractAnthropicUsage,
  mergeAnthropicCounts,
  normaliseAnthropicCounts,
  readAnthropicCounts,
  type AnthropicCounts,
} from './usage.js';

/**
 * The `anthropic` adapter: the Messages API (https://docs.anthropic.com/en/api/messages).
 * Anthropic reports usage in every answer, streams included, so request bodies go upstream as
 * the very bytes the client sent and nothing is stripped from streams. The key travels in the
 * `x-api-key` header (https://docs.anthropic.com/en/api/overview#authentication); the client's
 * `anthropic-version` / `anthropic-beta` headers are forwarded as they came.
 *
 * @example
 * const route = anthropicAdapter.matchRoute('POST', '/v1/messages'); // { operation: 'messages', metered: true, … }
 */
export const anthropicAdapter: ProviderAdapter = {
  type: 'anthropic',
  // count_tokens is forwarded but not metered: no record carries it.
  operations: [ANTHROPIC_OPERATIONS.messages],
  matchRoute: matchAnthropicRoute,
  inspectRequest: inspectAnthropicRequest,
  prepareBody: (_route, _info, _body, raw) => ({ body: raw, stripUsageChunk: false }),
  extractUsage: (route, body) => extractAnthropicUsage(route.operation, body),
  outputMembers: () => ['content'],
  createStreamTap: (_route, options) => createAnthropicStreamTap(options),
  promptText: anthropicPromptText,
  backendAuth: (apiKey) => ({ header: 'x-api-key', value: apiKey }),
};
