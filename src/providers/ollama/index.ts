import type { ProviderAdapter } from '../types.js';
import { inspectOllamaRequest, ollamaPromptText } from './request.js';
import { isGenerating, matchOllamaRoute, OLLAMA_OPERATIONS } from './routes.js';
import { createOllamaStreamTap } from './stream.js';
import { extractOllamaUsage } from './usage.js';

export { OLLAMA_OPERATIONS, matchOllamaRoute } from './routes.js';
export { inspectOllamaRequest, ollamaPromptText } from './request.js';
export { createOllamaStreamTap } from './stream.js';
export { createLineSplitter, type LineSplitter } from './ndjson-lines.js';
export { extractOllamaUsage, readOllamaCounts, ollamaAnswerText } from './usage.js';

/** Content types of an NDJSON stream (Ollama sends application/x-ndjson). */
const NDJSON = /^\s*application\/(?:x-)?(?:ndjson|jsonl|json-lines)\b/i;

/**
 * The `ollama` adapter: Ollama's native API (https://docs.ollama.com/api), `/api/chat`,
 * `/api/generate`, `/api/embed` and the legacy `/api/embeddings`. Bodies go through untouched:
 * Ollama reports its counts in every answer without being asked. A local Ollama needs no
 * credential (a backend without `apiKey` sends none); with `apiKey` (Ollama behind an
 * authenticating proxy, or ollama.com's cloud API) it goes as `Authorization: Bearer`.
 * Ollama's OpenAI-compatible `/v1/chat/completions` is served by `type: openai`.
 *
 * @example
 * ollamaAdapter.matchRoute('POST', '/api/chat'); // { operation: 'chat', metered: true, … }
 */
export const ollamaAdapter: ProviderAdapter = {
  type: 'ollama',
  operations: Object.values(OLLAMA_OPERATIONS),
  matchRoute: matchOllamaRoute,
  inspectRequest: inspectOllamaRequest,
  prepareBody: (_route, _info, _body, raw) => ({ body: raw, stripUsageChunk: false }),
  extractUsage: (_route, body) => extractOllamaUsage(body),
  outputMembers: (route) =>
    route.operation === OLLAMA_OPERATIONS.chat
      ? ['message']
      : route.operation === OLLAMA_OPERATIONS.generate
        ? ['response', 'thinking']
        : [],
  // The NDJSON label says stream (the relay keeps it although the first byte is `{`); a
  // `stream: false` answer and an error are application/json.
  isStreamedResponse: (route, contentType) => isGenerating(route) && NDJSON.test(contentType),
  createStreamTap: (_route, options) => createOllamaStreamTap(options),
  promptText: ollamaPromptText,
  backendAuth: (apiKey) => ({ header: 'authorization', value: `Bearer ${apiKey}` }),
};
