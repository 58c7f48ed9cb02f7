import type { ExtractedUsage, ProviderAdapter } from '../types.js';
import { invalidUsageFields } from '../../usage.js';
import { field, isJsonObject } from '../json.js';
import { coherePromptText, inspectCohereRequest } from './request.js';
import { COHERE_OPERATIONS, matchCohereRoute } from './routes.js';
import { createCohereStreamTap } from './stream.js';
import { cohereMessageText, readCohereEmbedUsage, readCohereUsage } from './usage.js';

export { COHERE_OPERATIONS, matchCohereRoute } from './routes.js';
export { inspectCohereRequest, coherePromptText } from './request.js';
export { createCohereStreamTap, readCohereEvent, type CohereEventFacts } from './stream.js';
export { readCohereUsage, readCohereEmbedUsage, cohereMessageText } from './usage.js';

/**
 * Usage of a complete answer: chat's top-level `usage`, embed's `meta.billed_units`. An error
 * body (`{id, message}`), a rerank answer (search units, not metered) or anything that is not a
 * JSON object yields no usage.
 */
export function extractCohereUsage(operation: string, body: unknown): ExtractedUsage {
  if (!isJsonObject(body)) return { usage: {} };
  if (operation === COHERE_OPERATIONS.embed) return { usage: readCohereEmbedUsage(body) };
  if (operation !== COHERE_OPERATIONS.chat) return { usage: {} };
  const extracted: ExtractedUsage = { usage: readCohereUsage(field(body, 'usage')) };
  // No usage, or absurd counts (not billed): the text is kept for estimation.
  if (extracted.usage.completionTokens === undefined || invalidUsageFields(extracted.usage).length > 0)
    extracted.generatedText = cohereMessageText(body);
  return extracted;
}

/**
 * The `cohere` adapter: Cohere's v2 API (https://docs.cohere.com/reference/chat), `POST
 * /v2/chat` (streamed with `stream: true`), `/v2/embed`, and `/v2/rerank` (forwarded, not
 * metered: search units are not tokens). Bodies go through untouched; the key travels as
 * `Authorization: Bearer`. Cohere answers do not name the model, so `responseModel` is absent.
 *
 * @example
 * cohereAdapter.matchRoute('POST', '/v2/chat'); // { operation: 'chat', metered: true, … }
 */
export const cohereAdapter: ProviderAdapter = {
  type: 'cohere',
  operations: [COHERE_OPERATIONS.chat, COHERE_OPERATIONS.embed],
  matchRoute: matchCohereRoute,
  inspectRequest: inspectCohereRequest,
  prepareBody: (_route, _info, _body, raw) => ({ body: raw, stripUsageChunk: false }),
  extractUsage: (route, body) => extractCohereUsage(route.operation, body),
  outputMembers: (route) => (route.operation === COHERE_OPERATIONS.chat ? ['message'] : []),
  createStreamTap: (_route, options) => createCohereStreamTap(options),
  promptText: coherePromptText,
  backendAuth: (apiKey) => ({ header: 'authorization', value: `Bearer ${apiKey}` }),
};
