import type { RequestInfo, RouteMatch } from '../types.js';
import { field, isJsonObject, readText } from '../json.js';

/**
 * Reads model, stream flag and end user from a Messages request body
 * (https://docs.anthropic.com/en/api/messages). The end user is `metadata.user_id`. Anthropic
 * always reports usage, in streams too, so the client never asks for it and nothing is injected.
 */
export function inspectAnthropicRequest(_route: RouteMatch, body: unknown): RequestInfo {
  const info: RequestInfo = { stream: field(body, 'stream') === true, clientWantsStreamUsage: false };
  const model = readText(field(body, 'model'));
  if (model !== undefined) info.model = model;
  const user = readText(field(field(body, 'metadata'), 'user_id'));
  if (user !== undefined) {
    info.user = user;
    info.userField = 'metadata.user_id';
  }
  return info;
}

/**
 * The prompt text of a Messages request, for token estimation when no usage arrives: `system`
 * (a string or text blocks) and each message's content (a string, or blocks whose `text` is
 * kept; a `tool_result` block's own content is read the same way). Images, documents and tool
 * definitions are not estimated. Parts are joined with newlines.
 */
export function anthropicPromptText(_route: RouteMatch, body: unknown): string {
  const parts: string[] = [];
  collectContent(field(body, 'system'), parts, 0);
  const messages = field(body, 'messages');
  if (Array.isArray(messages))
    for (const message of messages) collectContent(field(message, 'content'), parts, 0);
  return parts.join('\n');
}

/** A string, or a list of content blocks (nesting is bounded: tool_result holds blocks once). */
function collectContent(content: unknown, parts: string[], depth: number): void {
  if (typeof content === 'string') {
    parts.push(content);
    return;
  }
  if (!Array.isArray(content) || depth > 1) return;
  for (const block of content) {
    if (!isJsonObject(block)) continue;
    const text = block['text'];
    if (typeof text === 'string') parts.push(text);
    else if (block['type'] === 'tool_result') collectContent(block['content'], parts, depth + 1);
  }
}
