import type { ExtractedUsage } from '../types.js';
import { invalidUsageFields, readCount, withDerivedTotal, type TokenUsage } from '../../usage.js';
import { field, isJsonObject, readText } from '../json.js';
import { ANTHROPIC_OPERATIONS } from './routes.js';

/**
 * Usage normalisation for the Anthropic Messages API (DESIGN.md, "Token accounting").
 * https://docs.anthropic.com/en/api/messages#response-usage
 */

/**
 * The counts of an Anthropic `usage` object, as reported (absent or null = not reported).
 * They are kept apart until the end because a stream may replace any one of them on its own.
 */
export interface AnthropicCounts {
  input?: number;
  cacheWrite?: number;
  cacheRead?: number;
  output?: number;
  thinking?: number;
}

const COUNT_KEYS = ['input', 'cacheWrite', 'cacheRead', 'output', 'thinking'] as const;

/** Reads an Anthropic `usage` object; undefined when it is not an object. */
export function readAnthropicCounts(usage: unknown): AnthropicCounts | undefined {
  if (!isJsonObject(usage)) return undefined;
  const values: Record<(typeof COUNT_KEYS)[number], number | undefined> = {
    input: readCount(usage['input_tokens']),
    cacheWrite: readCount(usage['cache_creation_input_tokens']),
    cacheRead: readCount(usage['cache_read_input_tokens']),
    output: readCount(usage['output_tokens']),
    thinking: readCount(field(usage['output_tokens_details'], 'thinking_tokens')),
  };
  const counts: AnthropicCounts = {};
  for (const key of COUNT_KEYS) {
    const value = values[key];
    if (value !== undefined) counts[key] = value;
  }
  return counts;
}

/**
 * Later counts replace earlier ones field by field. `message_delta` usage is cumulative
 * (https://docs.anthropic.com/en/docs/build-with-claude/streaming#event-types): its
 * `output_tokens` is the whole answer's, so summing it with `message_start`'s would count twice.
 */
export function mergeAnthropicCounts(base: AnthropicCounts, update: AnthropicCounts): AnthropicCounts {
  const out: AnthropicCounts = { ...base };
  for (const key of COUNT_KEYS) {
    const value = update[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/**
 * The normalised usage. Anthropic's `input_tokens` excludes the cache: prompt = input + cache
 * write + cache read (those reported; none reported = absent). Anthropic reports no total, so
 * it is derived. Thinking tokens are already inside `output_tokens`.
 */
export function normaliseAnthropicCounts(counts: AnthropicCounts): TokenUsage {
  const usage: TokenUsage = {};
  const inputParts = [counts.input, counts.cacheWrite, counts.cacheRead].filter(
    (n): n is number => n !== undefined,
  );
  if (inputParts.length > 0) usage.promptTokens = inputParts.reduce((a, b) => a + b, 0);
  if (counts.output !== undefined) usage.completionTokens = counts.output;
  if (counts.cacheRead !== undefined) usage.cachedTokens = counts.cacheRead;
  if (counts.cacheWrite !== undefined) usage.cacheWriteTokens = counts.cacheWrite;
  if (counts.thinking !== undefined) usage.reasoningTokens = counts.thinking;
  return withDerivedTotal(usage);
}

/**
 * Usage and answering model from a complete Messages response. An error body
 * (`{type: 'error', …}`), a count_tokens answer (not billed) or anything that is not a JSON
 * object yields empty usage.
 */
export function extractAnthropicUsage(operation: string, body: unknown): ExtractedUsage {
  if (operation !== ANTHROPIC_OPERATIONS.messages) return { usage: {} };
  const counts = readAnthropicCounts(field(body, 'usage'));
  const extracted: ExtractedUsage = { usage: counts === undefined ? {} : normaliseAnthropicCounts(counts) };
  const model = readText(field(body, 'model'));
  if (model !== undefined) extracted.responseModel = model;
  // Absurd counts are not billed: the text is kept for estimation.
  if (invalidUsageFields(extracted.usage).length > 0) extracted.generatedText = messageText(body);
  return extracted;
}

/**
 * The output of a complete Messages answer: text, thinking and tool-use input blocks of
 * `content` (https://docs.anthropic.com/en/api/messages#response-content).
 */
function messageText(body: unknown): string {
  const content = field(body, 'content');
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const block of content) {
    for (const key of ['text', 'thinking'] as const) {
      const value = field(block, key);
      if (typeof value === 'string') text += value;
    }
    const input = field(block, 'input');
    if (isJsonObject(input)) text += JSON.stringify(input);
  }
  return text;
}
