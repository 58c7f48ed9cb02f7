import type { RequestInfo, RouteMatch } from '../types.js';
import { field, readText } from '../json.js';
import { isGenerating, OLLAMA_OPERATIONS } from './routes.js';

/**
 * Reads model and stream flag from an Ollama request body. Ollama streams by default: `stream`
 * absent (or anything but `false`) is a stream for chat and generate
 * (https://docs.ollama.com/api/chat); the embedding routes never stream. Ollama reports its
 * counts in every answer without being asked, and has no end-user field.
 */
export function inspectOllamaRequest(route: RouteMatch, body: unknown): RequestInfo {
  const info: RequestInfo = {
    stream: isGenerating(route) && field(body, 'stream') !== false,
    clientWantsStreamUsage: false,
  };
  const model = readText(field(body, 'model'));
  if (model !== undefined) info.model = model;
  return info;
}

/**
 * The prompt text, for token estimation when no count is reported: chat `messages[].content`
 * (and a message's `thinking`), generate `system` + `prompt` (+ `suffix`), embed `input` (a
 * string or a list of strings), legacy embeddings `prompt`. Images are not estimated.
 */
export function ollamaPromptText(route: RouteMatch, body: unknown): string {
  const parts: string[] = [];
  const push = (value: unknown): void => {
    if (typeof value === 'string' && value !== '') parts.push(value);
  };
  switch (route.operation) {
    case OLLAMA_OPERATIONS.chat: {
      const messages = field(body, 'messages');
      if (Array.isArray(messages))
        for (const message of messages) {
          push(field(message, 'content'));
          push(field(message, 'thinking'));
        }
      break;
    }
    case OLLAMA_OPERATIONS.generate:
      push(field(body, 'system'));
      push(field(body, 'prompt'));
      push(field(body, 'suffix'));
      break;
    case OLLAMA_OPERATIONS.embed: {
      const input = field(body, 'input');
      if (Array.isArray(input)) for (const item of input) push(item);
      else push(input);
      break;
    }
    default:
      push(field(body, 'prompt'));
  }
  return parts.join('\n');
}
