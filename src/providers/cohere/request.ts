import type { RequestInfo, RouteMatch } from '../types.js';
import { field, isJsonObject, readText } from '../json.js';
import { COHERE_OPERATIONS } from './routes.js';

/**
 * Reads model and stream flag from a v2 request body (https://docs.cohere.com/reference/chat):
 * a chat streams only with `stream: true`. Cohere reports usage in every answer, streams
 * included (`message-end`), so nothing is ever asked for; there is no end-user field.
 */
export function inspectCohereRequest(route: RouteMatch, body: unknown): RequestInfo {
  const info: RequestInfo = {
    stream: route.operation === COHERE_OPERATIONS.chat && field(body, 'stream') === true,
    clientWantsStreamUsage: false,
  };
  const model = readText(field(body, 'model'));
  if (model !== undefined) info.model = model;
  return info;
}

/**
 * The prompt text, for token estimation when no usage is reported: chat `messages[].content`
 * (a string or content blocks whose `text` is kept; tool results' content likewise), embed
 * `texts` (and the text blocks of `inputs`). Images and documents are not estimated.
 */
export function coherePromptText(route: RouteMatch, body: unknown): string {
  const parts: string[] = [];
  if (route.operation === COHERE_OPERATIONS.embed) {
    const texts = field(body, 'texts');
    if (Array.isArray(texts)) for (const text of texts) if (typeof text === 'string') parts.push(text);
    const inputs = field(body, 'inputs');
    if (Array.isArray(inputs)) for (const input of inputs) collect(field(input, 'content'), parts, 0);
    return parts.join('\n');
  }
  const messages = field(body, 'messages');
  if (Array.isArray(messages)) for (const message of messages) collect(field(message, 'content'), parts, 0);
  return parts.join('\n');
}

/** A string, or content blocks (`{type: 'text', text}`, a tool result's nested content once). */
function collect(content: unknown, parts: string[], depth: number): void {
  if (typeof content === 'string') {
    if (content !== '') parts.push(content);
    return;
  }
  if (!Array.isArray(content) || depth > 1) return;
  for (const block of content) {
    if (!isJsonObject(block)) continue;
    const text = block['text'];
    if (typeof text === 'string') parts.push(text);
    else collect(field(block, 'document'), parts, depth + 1);
  }
}
