import type { RouteMatch } from '../types.js';
import { splitQuery } from '../sub-path.js';

/** The Operation ID dimension values of Cohere's v2 API (https://docs.cohere.com/reference/chat). */
export const COHERE_OPERATIONS = {
  chat: 'chat',
  embed: 'embed',
  rerank: 'rerank',
} as const;

/**
 * Matches `POST /v2/chat` (metered, streamed or not), `POST /v2/embed` (metered: billed input
 * tokens) and `POST /v2/rerank`, forwarded but not metered: rerank bills search units
 * (`meta.billed_units.search_units`), which are not tokens, so no token record is written for it
 * (an estimate from the documents' text would bill tokens Cohere never charged).
 */
export function matchCohereRoute(method: string, subPath: string): RouteMatch | undefined {
  if (method.toUpperCase() !== 'POST') return undefined;
  switch (splitQuery(subPath).path) {
    case '/v2/chat':
      return { operation: COHERE_OPERATIONS.chat, metered: true, upstreamPath: subPath };
    case '/v2/embed':
      return { operation: COHERE_OPERATIONS.embed, metered: true, upstreamPath: subPath };
    case '/v2/rerank':
      return { operation: COHERE_OPERATIONS.rerank, metered: false, upstreamPath: subPath };
    default:
      return undefined;
  }
}
