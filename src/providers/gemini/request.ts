import type { PreparedBody, RequestInfo, RouteMatch } from '../types.js';
import { field, isJsonObject } from '../json.js';
import { OPERATIONS } from './routes.js';

/**
 * Reads the request facts. Gemini names the model in the path, never in the body, has no end
 * user field, and reports usage in every stream without being asked.
 */
export function inspectGeminiRequest(route: RouteMatch): RequestInfo {
  const info: RequestInfo = {
    stream: route.operation === OPERATIONS.streamGenerateContent,
    clientWantsStreamUsage: false,
  };
  if (route.pathModel !== undefined) info.model = route.pathModel;
  return info;
}

/** The upstream body: always the very Buffer the client sent (nothing needs to be asked for). */
export function prepareGeminiBody(
  _route: RouteMatch,
  _info: RequestInfo,
  _body: unknown,
  raw: Buffer,
): PreparedBody {
  return { body: raw, stripUsageChunk: false };
}

/**
 * The prompt text, for token estimation when no usage is reported: the text parts of
 * `systemInstruction` and of every `contents` entry
 * (https://ai.google.dev/api/generate-content#request-body). countTokens may wrap the request
 * in `generateContentRequest` (https://ai.google.dev/api/tokens#method:-models.counttokens).
 * Images, files and function responses are not estimated; parts are joined with newlines.
 */
export function geminiPromptText(_route: RouteMatch, body: unknown): string {
  const request = isJsonObject(field(body, 'generateContentRequest'))
    ? field(body, 'generateContentRequest')
    : body;
  const parts: string[] = [];
  collectParts(field(request, 'systemInstruction'), parts);
  const contents = field(request, 'contents');
  if (Array.isArray(contents)) for (const content of contents) collectParts(content, parts);
  return parts.join('\n');
}

/** The `text` of every part of one `Content` object. */
function collectParts(content: unknown, out: string[]): void {
  const parts = field(content, 'parts');
  if (!Array.isArray(parts)) return;
  for (const part of parts) {
    const text = field(part, 'text');
    if (typeof text === 'string' && text !== '') out.push(text);
  }
}
