import { handleAnthropicCountTokens, handleAnthropicMessages, matchAnthropicRoute } from './anthropic.js';
import { handleChat } from './chat.js';
import { handleCompletions } from './completions.js';
import { handleEmbeddings } from './embeddings.js';
import { handleResponses } from './responses.js';
import type { Flavor, Handler, Operation, SimulatorHttpError } from './types.js';

/** A matched simulator route. */
export interface Route {
  flavor: Flavor;
  operation: Operation;
  /** The Azure deployment named by the path. */
  deployment?: string;
  /** Azure's classic routes require `?api-version=`; the v1 routes do not. */
  requiresApiVersion: boolean;
  /** A request header the provider requires (a 400 without it), e.g. `anthropic-version`. */
  requiredHeader?: string;
  /** The provider's error body; the OpenAI shape when absent. */
  errorBody?: (error: SimulatorHttpError) => unknown;
  /** The frame a failing stream ends with (`stream-error` mode); an OpenAI error chunk when absent. */
  streamErrorFrame?: string;
}

const OPERATIONS: Record<string, Operation> = {
  'chat/completions': 'chat',
  completions: 'completions',
  embeddings: 'embeddings',
  responses: 'responses',
};

/** The handler of each operation. */
export const HANDLERS: Record<Operation, Handler> = {
  chat: handleChat,
  completions: handleCompletions,
  embeddings: handleEmbeddings,
  responses: handleResponses,
  messages: handleAnthropicMessages,
  count_tokens: handleAnthropicCountTokens,
};

const AZURE_DEPLOYMENT = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|completions|embeddings)$/;
const AZURE_V1 = /^\/openai\/v1\/(chat\/completions|completions|embeddings|responses)$/;
const AZURE_RESPONSES = '/openai/responses';
const OPENAI = /^(?:\/v1)?\/(chat\/completions|completions|embeddings|responses)$/;

/**
 * Maps a URL path to a route:
 * - OpenAI: `/v1/{op}` and `/{op}`;
 * - Anthropic: `/v1/messages` and `/v1/messages/count_tokens`;
 * - Azure OpenAI: `/openai/deployments/{deployment}/{op}?api-version=…` (chat/completions,
 *   completions, embeddings), `/openai/responses?api-version=…` and the v1 API `/openai/v1/{op}`.
 * Trailing slashes are ignored. Returns undefined for anything else.
 */
export function matchRoute(pathname: string): Route | undefined {
  const path = pathname.length > 1 ? pathname.replace(/\/+$/, '') : pathname;
  // Before the OpenAI pattern, which would read `/v1/messages` as nothing it knows.
  const anthropic = matchAnthropicRoute(path);
  if (anthropic !== undefined) return anthropic;
  const deployment = AZURE_DEPLOYMENT.exec(path);
  if (deployment !== null) {
    const operation = OPERATIONS[deployment[2] ?? ''];
    const name = safeDecode(deployment[1] ?? '');
    if (operation === undefined || name === undefined) return undefined;
    return { flavor: 'azure', operation, deployment: name, requiresApiVersion: true };
  }
  if (path === AZURE_RESPONSES) return { flavor: 'azure', operation: 'responses', requiresApiVersion: true };
  const v1 = AZURE_V1.exec(path);
  const v1Op = v1 === null ? undefined : OPERATIONS[v1[1] ?? ''];
  if (v1Op !== undefined) return { flavor: 'azure', operation: v1Op, requiresApiVersion: false };
  const openai = OPENAI.exec(path);
  const op = openai === null ? undefined : OPERATIONS[openai[1] ?? ''];
  if (op !== undefined) return { flavor: 'openai', operation: op, requiresApiVersion: false };
  return undefined;
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
