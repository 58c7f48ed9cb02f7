import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import type { TokenUsage } from '../usage.js';

/**
 * Token estimation for calls whose provider reports no usage (records marked `estimated`).
 * o200k_base is the encoding of the GPT-4o / GPT-4.1 / GPT-5 / o-series families; for other
 * models it is an approximation, which is all an estimate claims to be.
 */

/** Text that looks like a special token (`<|endoftext|>`) is counted as plain text, not refused. */
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

/** The number of o200k_base tokens in `text`. */
export function estimateTokens(text: string): number {
  return text === '' ? 0 : countTokens(text, PLAIN_TEXT);
}

/**
 * Bytes of a JSON answer per estimated token, for output too large to keep: o200k averages about
 * four characters of English text per token, and the JSON around the text (keys, quotes,
 * escapes) counts too, so the estimate errs high rather than low.
 */
export const BYTES_PER_TOKEN = 4;

/**
 * Estimated usage of a call: prompt tokens from the prompt text, completion tokens from the
 * generated text (plus `unreadOutputBytes / BYTES_PER_TOKEN` for output members of an answer too
 * large to keep), total = their sum. Cache and reasoning counts cannot be estimated and stay
 * absent.
 */
export function estimateUsage(promptText: string, generatedText: string, unreadOutputBytes = 0): TokenUsage {
  const promptTokens = estimateTokens(promptText);
  const completionTokens = estimateTokens(generatedText) + Math.ceil(unreadOutputBytes / BYTES_PER_TOKEN);
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
}
