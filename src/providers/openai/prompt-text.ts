import type { RouteMatch } from '../types.js';
import { field, isJsonObject } from '../json.js';
import { OPERATIONS } from './routes.js';

/**
 * The prompt text of a request, for token estimation when the provider reports no usage.
 * Only text is collected (images, audio and token-id arrays are not estimated); parts are
 * joined with newlines.
 */
export function openAiPromptText(route: RouteMatch, body: unknown): string {
  const parts: string[] = [];
  switch (route.operation) {
    case OPERATIONS.chatCompletions:
      for (const message of asArray(field(body, 'messages')))
        collectContent(field(message, 'content'), parts);
      break;
    case OPERATIONS.completions:
      collectStrings(field(body, 'prompt'), parts);
      break;
    case OPERATIONS.embeddings:
      collectStrings(field(body, 'input'), parts);
      break;
    case OPERATIONS.responses:
      collectStrings(field(body, 'instructions'), parts);
      collectResponsesInput(field(body, 'input'), parts);
      break;
    default:
      break;
  }
  return parts.join('\n');
}

function asArray(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

/** A string, or the strings of an array (prompt / embeddings input; token arrays are skipped). */
function collectStrings(value: unknown, parts: string[]): void {
  if (typeof value === 'string') parts.push(value);
  else for (const item of asArray(value)) if (typeof item === 'string') parts.push(item);
}

/**
 * Message content: a string, or an array of parts whose `text` is kept
 * (`{type: 'text'}` in chat, `{type: 'input_text' | 'output_text'}` in Responses).
 */
function collectContent(content: unknown, parts: string[]): void {
  if (typeof content === 'string') {
    parts.push(content);
    return;
  }
  for (const part of asArray(content)) {
    const text = field(part, 'text');
    if (typeof text === 'string') parts.push(text);
  }
}

/** Responses `input`: a string, or a list of items (messages with content, plain strings). */
function collectResponsesInput(input: unknown, parts: string[]): void {
  if (typeof input === 'string') {
    parts.push(input);
    return;
  }
  for (const item of asArray(input)) {
    if (typeof item === 'string') parts.push(item);
    else if (isJsonObject(item)) collectContent(item['content'], parts);
  }
}
