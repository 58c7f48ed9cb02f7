import type { RouteMatch } from '../types.js';
import { splitQuery } from '../sub-path.js';

/** The Operation ID dimension values of the Anthropic Messages API. */
export const ANTHROPIC_OPERATIONS = {
  messages: 'messages',
  countTokens: 'messages.count_tokens',
} as const;

/**
 * Matches `POST /v1/messages` (metered) and `POST /v1/messages/count_tokens` (forwarded, not
 * billed: counting tokens is free, https://docs.anthropic.com/en/api/messages-count-tokens).
 * A query string is allowed and sent upstream as it came: the SDK's beta namespace posts to
 * `/v1/messages?beta=true`. Anything else is not a route of this API.
 */
export function matchAnthropicRoute(method: string, subPath: string): RouteMatch | undefined {
  if (method.toUpperCase() !== 'POST') return undefined;
  const { path } = splitQuery(subPath);
  if (path === '/v1/messages')
    return { operation: ANTHROPIC_OPERATIONS.messages, metered: true, upstreamPath: subPath };
  if (path === '/v1/messages/count_tokens')
    return { operation: ANTHROPIC_OPERATIONS.countTokens, metered: false, upstreamPath: subPath };
  return undefined;
}
