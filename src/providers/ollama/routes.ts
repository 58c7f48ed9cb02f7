import type { RouteMatch } from '../types.js';
import { splitQuery } from '../sub-path.js';

/** The Operation ID dimension values of Ollama's native API (https://docs.ollama.com/api). */
export const OLLAMA_OPERATIONS = {
  chat: 'chat',
  generate: 'generate',
  embed: 'embed',
  /** The legacy `/api/embeddings` (one prompt, no counts in the answer). */
  embeddings: 'embeddings',
} as const;

export type OllamaOperation = (typeof OLLAMA_OPERATIONS)[keyof typeof OLLAMA_OPERATIONS];

const PATHS: ReadonlyMap<string, OllamaOperation> = new Map([
  ['/api/chat', OLLAMA_OPERATIONS.chat],
  ['/api/generate', OLLAMA_OPERATIONS.generate],
  ['/api/embed', OLLAMA_OPERATIONS.embed],
  ['/api/embeddings', OLLAMA_OPERATIONS.embeddings],
]);

/**
 * Matches `POST /api/chat | /api/generate | /api/embed | /api/embeddings`, every one metered.
 * The other routes of the API (`/api/tags`, `/api/pull`, `/api/show`…) manage models and
 * generate nothing: they are not routes of this API type. A query string goes upstream as it came.
 */
export function matchOllamaRoute(method: string, subPath: string): RouteMatch | undefined {
  if (method.toUpperCase() !== 'POST') return undefined;
  const operation = PATHS.get(splitQuery(subPath).path);
  return operation === undefined ? undefined : { operation, metered: true, upstreamPath: subPath };
}

/** Whether the route generates (and so may stream): chat and generate. */
export function isGenerating(route: RouteMatch): boolean {
  return route.operation === OLLAMA_OPERATIONS.chat || route.operation === OLLAMA_OPERATIONS.generate;
}
