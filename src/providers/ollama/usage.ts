import type { ExtractedUsage } from '../types.js';
import { invalidUsageFields, readCount, withDerivedTotal, type TokenUsage } from '../../usage.js';
import { field, isJsonObject, readText } from '../json.js';

/**
 * Usage normalisation for Ollama's native API (https://docs.ollama.com/api/usage):
 * - promptTokens = `prompt_eval_count`, the prompt tokens Ollama evaluated for the call. Ollama
 *   leaves the field out when it is 0 (Go `omitempty`), which happens when the whole prompt came
 *   from its KV cache: the count is then absent (not reported), never an invented 0, and never
 *   a guess (the record is `reported` with its completion count; totalTokens = completion).
 * - completionTokens = `eval_count`, every generated token, thinking (`message.thinking`,
 *   `thinking` with `think: true`) included: Ollama reports no separate thinking count, so
 *   reasoningTokens stays absent.
 * - the `*_duration` fields are nanoseconds, never tokens.
 * Ollama reports no total: it is derived.
 */
export function readOllamaCounts(answer: unknown): TokenUsage {
  const usage: TokenUsage = {};
  const prompt = readCount(field(answer, 'prompt_eval_count'));
  const completion = readCount(field(answer, 'eval_count'));
  if (prompt !== undefined) usage.promptTokens = prompt;
  if (completion !== undefined) usage.completionTokens = completion;
  return withDerivedTotal(usage);
}

/** The text an answer object carries: chat `message.content` / `.thinking` / tool calls, generate `response` / `thinking`. */
export function ollamaAnswerText(answer: unknown): string {
  let text = '';
  const add = (value: unknown): void => {
    if (typeof value === 'string') text += value;
  };
  const message = field(answer, 'message');
  add(field(message, 'content'));
  add(field(message, 'thinking'));
  const calls = field(message, 'tool_calls');
  if (Array.isArray(calls))
    for (const call of calls) {
      const args = field(field(call, 'function'), 'arguments');
      if (isJsonObject(args)) text += JSON.stringify(args);
    }
  add(field(answer, 'response'));
  add(field(answer, 'thinking'));
  return text;
}

/**
 * Usage from a complete (`stream: false`) answer: chat and generate carry the counts on their
 * one object (`done: true`), `/api/embed` its `prompt_eval_count`; the legacy `/api/embeddings`
 * answers `{embedding}` with no count at all (estimated by the core). An error body
 * (`{"error": "..."}`) yields no usage.
 */
export function extractOllamaUsage(body: unknown): ExtractedUsage {
  if (!isJsonObject(body) || body['error'] !== undefined) return { usage: {} };
  const extracted: ExtractedUsage = { usage: readOllamaCounts(body) };
  const model = readText(body['model']);
  if (model !== undefined) extracted.responseModel = model;
  if (extracted.usage.completionTokens === undefined || invalidUsageFields(extracted.usage).length > 0)
    extracted.generatedText = ollamaAnswerText(body);
  return extracted;
}
