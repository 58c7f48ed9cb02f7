import type { RequestInfo, RouteMatch } from '../types.js';
import { field, isJsonObject } from '../json.js';
import { isStreamedOperation } from './routes.js';

/**
 * Reads a Bedrock request. The model is the path's `{modelId}` (the route's pathModel; bodies
 * do not name it), and whether the answer is streamed is the operation's
 * (ConverseStream, InvokeModelWithResponseStream), never a body flag. Bedrock always reports
 * usage (ConverseStream's `metadata` event, the invocation metrics of the last chunk), so
 * nothing is asked for or injected. Bedrock bodies name no end user.
 */
export function inspectBedrockRequest(route: RouteMatch): RequestInfo {
  const info: RequestInfo = { stream: isStreamedOperation(route.operation), clientWantsStreamUsage: false };
  if (route.pathModel !== undefined) info.model = route.pathModel;
  return info;
}

/**
 * The text of a prompt, for estimation when no usage arrives. Converse: `system` and each
 * message's `content` text blocks (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html).
 * InvokeModel bodies are the model's own: Anthropic and Nova `system` / `messages` (content a
 * string or text blocks), Meta, Mistral and Cohere `prompt` / `message`, Titan `inputText`.
 * Images, documents and tool definitions are not estimated. Parts are joined with newlines.
 */
export function bedrockPromptText(_route: RouteMatch, body: unknown): string {
  const parts: string[] = [];
  for (const key of ['prompt', 'inputText', 'message'] as const) {
    const value = field(body, key);
    if (typeof value === 'string') parts.push(value);
  }
  collectContent(field(body, 'system'), parts);
  const messages = field(body, 'messages');
  if (Array.isArray(messages))
    for (const message of messages) collectContent(field(message, 'content'), parts);
  return parts.join('\n');
}

/** A string, or a list of blocks whose `text` is kept. */
function collectContent(content: unknown, parts: string[]): void {
  if (typeof content === 'string') {
    parts.push(content);
    return;
  }
  if (!Array.isArray(content)) return;
  for (const block of content) {
    const text = isJsonObject(block) ? block['text'] : undefined;
    if (typeof text === 'string') parts.push(text);
  }
}
