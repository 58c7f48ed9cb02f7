import type { RouteMatch } from '../types.js';
import { splitQuery } from '../sub-path.js';

/** The Operation ID dimension values of the OpenAI API shape. */
export const OPERATIONS = {
  chatCompletions: 'chat.completions',
  completions: 'completions',
  embeddings: 'embeddings',
  responses: 'responses',
} as const;

export type OpenAiOperation = (typeof OPERATIONS)[keyof typeof OPERATIONS];

/** The operation of each endpoint path, relative to the API base (`…/v1`). */
export const OPENAI_ENDPOINTS: ReadonlyMap<string, OpenAiOperation> = new Map([
  ['/chat/completions', OPERATIONS.chatCompletions],
  ['/completions', OPERATIONS.completions],
  ['/embeddings', OPERATIONS.embeddings],
  ['/responses', OPERATIONS.responses],
]);

/**
 * Matches `POST /chat/completions`, `/completions`, `/embeddings` and `/responses` (a query
 * string is allowed and sent upstream as it came). Anything else is not a metered route.
 */
export function matchOpenAiRoute(method: string, subPath: string): RouteMatch | undefined {
  if (method.toUpperCase() !== 'POST') return undefined;
  const operation = OPENAI_ENDPOINTS.get(splitQuery(subPath).path);
  if (operation === undefined) return undefined;
  return { operation, metered: true, upstreamPath: subPath };
}
