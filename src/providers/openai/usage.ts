import type { ExtractedUsage } from '../types.js';
import { hasValidUsage, readCount, USAGE_FIELDS, type TokenUsage } from '../../usage.js';
import { field, isJsonObject, readText } from '../json.js';
import { OPERATIONS } from './routes.js';
import { choicesText } from './choices-text.js';

/**
 * Usage normalisation for the OpenAI API shape (DESIGN.md, "Token accounting"). A count the
 * provider did not send stays undefined: it is never read as 0.
 */

type UsageValues = { [K in keyof TokenUsage]-?: number | undefined };

/** Keeps only the counts that were reported (exactOptionalPropertyTypes: no `undefined` values). */
function compactUsage(values: UsageValues): TokenUsage {
  const usage: TokenUsage = {};
  for (const key of USAGE_FIELDS) {
    const value = values[key];
    if (value !== undefined) usage[key] = value;
  }
  return usage;
}

/**
 * Reads a Chat Completions / Completions / Embeddings `usage` object; undefined when `usage` is
 * not an object (absent, or `null` as in every chunk before the usage chunk).
 * https://platform.openai.com/docs/api-reference/chat/object#chat/object-usage
 */
export function readChatUsage(usage: unknown): TokenUsage | undefined {
  if (!isJsonObject(usage)) return undefined;
  const promptDetails = usage['prompt_tokens_details'];
  return compactUsage({
    promptTokens: readCount(usage['prompt_tokens']),
    completionTokens: readCount(usage['completion_tokens']),
    totalTokens: readCount(usage['total_tokens']),
    cachedTokens: readCount(field(promptDetails, 'cached_tokens')),
    cacheWriteTokens: readCount(field(promptDetails, 'cache_write_tokens')),
    reasoningTokens: readCount(field(usage['completion_tokens_details'], 'reasoning_tokens')),
  });
}

/**
 * Reads a Responses API `usage` object; undefined when it is not an object.
 * https://platform.openai.com/docs/api-reference/responses/object#responses/object-usage
 */
export function readResponsesUsage(usage: unknown): TokenUsage | undefined {
  if (!isJsonObject(usage)) return undefined;
  return compactUsage({
    promptTokens: readCount(usage['input_tokens']),
    completionTokens: readCount(usage['output_tokens']),
    totalTokens: readCount(usage['total_tokens']),
    cachedTokens: readCount(field(usage['input_tokens_details'], 'cached_tokens')),
    // The Responses API reports no cache writes.
    cacheWriteTokens: undefined,
    reasoningTokens: readCount(field(usage['output_tokens_details'], 'reasoning_tokens')),
  });
}

/**
 * Usage and answering model from a complete (non-streamed) response body of `operation`.
 * An error body, or anything that is not a JSON object, yields empty usage.
 */
export function extractOpenAiUsage(operation: string, body: unknown): ExtractedUsage {
  const read = operation === OPERATIONS.responses ? readResponsesUsage : readChatUsage;
  const extracted: ExtractedUsage = { usage: read(field(body, 'usage')) ?? {} };
  const model = readText(field(body, 'model'));
  if (model !== undefined) extracted.responseModel = model;
  // OpenAI-compatible servers that report no usage (or absurd counts): the text is kept for estimation.
  if (!hasValidUsage(extracted.usage)) extracted.generatedText = responseText(body);
  return extracted;
}

/**
 * The text a non-streamed answer generated: chat `choices[].message.content` (and tool-call
 * arguments), completions `choices[].text`, Responses `output[].content[].text`.
 */
function responseText(body: unknown): string {
  let text = '';
  const choices = field(body, 'choices');
  if (Array.isArray(choices)) text += choicesText(choices, 'message');
  const output = field(body, 'output');
  if (Array.isArray(output)) {
    for (const item of output) {
      const parts = field(item, 'content');
      if (!Array.isArray(parts)) continue;
      for (const part of parts) {
        const partText = field(part, 'text');
        if (typeof partText === 'string') text += partText;
      }
    }
  }
  return text;
}
