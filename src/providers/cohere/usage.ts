import { readCount, withDerivedTotal, type TokenUsage } from '../../usage.js';
import { field, isJsonObject } from '../json.js';

/**
 * Usage normalisation for Cohere's v2 API (https://docs.cohere.com/reference/chat, response
 * `usage`). A chat answer's usage has two sets of counts:
 * - `billed_units` {input_tokens, output_tokens}: what Cohere bills. They become promptTokens
 *   and completionTokens (reasoning included: Cohere reports no separate thinking count).
 * - `tokens` {input_tokens, output_tokens}: what the model processed, the system prompt and
 *   chat template Cohere does not bill included. Kept apart: never in the record's counts, so
 *   a team is billed what Cohere bills. Only when `billed_units` carries no token count at all
 *   (an answer without it) are `tokens` used: the provider's own count, an upper bound of the
 *   bill, is closer than a tokenizer guess (Cohere's tokenizer is not ours).
 * - `cached_tokens`: input read from Cohere's prompt cache, counted over `tokens.input_tokens`
 *   (the template included), so it can exceed the billed input. cachedTokens is it, capped at
 *   promptTokens so that it stays a part of the prompt, as on every record.
 * `billed_units.search_units` (rerank) and `classifications` are not tokens: never read.
 * Cohere reports no total: it is derived.
 */
export function readCohereUsage(usage: unknown): TokenUsage {
  if (!isJsonObject(usage)) return {};
  const billed = usage['billed_units'];
  let prompt = readCount(field(billed, 'input_tokens'));
  let completion = readCount(field(billed, 'output_tokens'));
  if (prompt === undefined && completion === undefined) {
    const tokens = usage['tokens'];
    prompt = readCount(field(tokens, 'input_tokens'));
    completion = readCount(field(tokens, 'output_tokens'));
  }
  const out: TokenUsage = {};
  if (prompt !== undefined) out.promptTokens = prompt;
  if (completion !== undefined) out.completionTokens = completion;
  const cached = readCount(usage['cached_tokens']);
  // Math.min keeps an INVALID_COUNT (NaN) from either side, so an absurd count stays visible.
  if (cached !== undefined) out.cachedTokens = prompt === undefined ? cached : Math.min(cached, prompt);
  return withDerivedTotal(out);
}

/**
 * The billed input tokens of an embed answer: `meta.billed_units.input_tokens`
 * (https://docs.cohere.com/reference/embed). `images` there are image units, not tokens.
 */
export function readCohereEmbedUsage(body: unknown): TokenUsage {
  const prompt = readCount(field(field(field(body, 'meta'), 'billed_units'), 'input_tokens'));
  return prompt === undefined ? {} : withDerivedTotal({ promptTokens: prompt });
}

/** Generated text of a complete chat answer: text and thinking blocks, tool plan, tool call arguments. */
export function cohereMessageText(body: unknown): string {
  const message = field(body, 'message');
  let text = '';
  const add = (value: unknown): void => {
    if (typeof value === 'string') text += value;
  };
  add(field(message, 'tool_plan'));
  const content = field(message, 'content');
  if (Array.isArray(content))
    for (const block of content) {
      add(field(block, 'text'));
      add(field(block, 'thinking'));
    }
  const calls = field(message, 'tool_calls');
  if (Array.isArray(calls)) for (const call of calls) add(field(field(call, 'function'), 'arguments'));
  return text;
}
