import { countTokens } from 'gpt-tokenizer';

/**
 * Deterministic text for the simulator: what it "generates" and how it counts prompt tokens.
 *
 * Generated text is drawn from a vocabulary in which every word, with and without a leading
 * space and capitalised, is exactly one o200k_base token (checked by test/simulator/text.test.ts).
 * So a completion of N tokens is N words, and the o200k count of the text equals the
 * `completion_tokens` the simulator reports: an estimator that tokenizes the streamed text
 * agrees with the reported usage.
 */
const VOCABULARY = [
  'sit',
  'sed',
  'do',
  'ut',
  'et',
  'ad',
  'ex',
  'ea',
  'in',
  'esse',
  'non',
  'qui',
  'anim',
  'id',
  'est',
  'the',
  'quick',
  'brown',
  'fox',
  'over',
  'lazy',
  'dog',
  'meter',
  'token',
  'gateway',
  'stream',
  'count',
  'model',
  'answer',
  'team',
  'cost',
  'budget',
  'report',
  'ledger',
  'usage',
] as const;

/**
 * The tokens of one generated answer: `count` words, the first capitalised without a leading
 * space, the others with one. The same (count, seed) always gives the same tokens; seeds differ
 * per choice so that the `n` choices of one request differ.
 */
export function generateTokens(count: number, seed: number): string[] {
  const tokens: string[] = [];
  // Small linear congruential generator (Numerical Recipes constants): deterministic, no state
  // outside this call.
  let state = (seed * 2654435761 + 1) >>> 0;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const word = VOCABULARY[state % VOCABULARY.length] ?? 'token';
    tokens.push(i === 0 ? word.charAt(0).toUpperCase() + word.slice(1) : ` ${word}`);
  }
  return tokens;
}

/** o200k_base token count of a text. */
export function countTextTokens(text: string): number {
  return text === '' ? 0 : countTokens(text);
}

/**
 * Every string found under `content`, `text`, `input`, `arguments` or `name` keys of a JSON
 * value, plus the value itself when it is a string: the text of chat messages (string or content
 * parts), Responses input items and tool calls. Images and other non-text parts add nothing.
 */
export function collectText(value: unknown): string[] {
  const out: string[] = [];
  const visit = (v: unknown, depth: number): void => {
    if (depth > 16) return;
    if (typeof v === 'string') {
      out.push(v);
    } else if (Array.isArray(v)) {
      for (const item of v) visit(item, depth + 1);
    } else if (typeof v === 'object' && v !== null) {
      const record = v as Record<string, unknown>;
      for (const key of ['content', 'text', 'input', 'arguments', 'name', 'output']) {
        if (key in record) visit(record[key], depth + 1);
      }
    }
  };
  visit(value, 0);
  return out;
}

/** Tokens each chat message costs beyond its text, and the reply priming (OpenAI cookbook). */
const MESSAGE_OVERHEAD = 3;
const REPLY_PRIMING = 3;

/**
 * Deterministic prompt tokens of a list of chat-like messages, following the OpenAI cookbook
 * formula for gpt-4o-class models: for each message 3 + tokens(role) + tokens(text), plus 3 for
 * the reply priming. Text is every string under `content`/`text`/… (see {@link collectText});
 * tool definitions and images are not counted. A close, documented approximation of the real
 * API, not a reproduction of it.
 */
export function countMessagesTokens(messages: readonly unknown[]): number {
  let total = REPLY_PRIMING;
  for (const message of messages) {
    const record =
      typeof message === 'object' && message !== null ? (message as Record<string, unknown>) : {};
    const role = typeof record.role === 'string' ? record.role : 'user';
    const text = typeof message === 'string' ? message : collectText(record).join('\n');
    total += MESSAGE_OVERHEAD + countTextTokens(role) + countTextTokens(text);
  }
  return total;
}

/**
 * Token count of an OpenAI `prompt` / embeddings `input`: a string, an array of strings, an
 * array of token ids, or an array of token-id arrays (token ids count one each).
 */
export function countInputTokens(input: unknown): number {
  if (typeof input === 'string') return countTextTokens(input);
  if (!Array.isArray(input)) return 0;
  let total = 0;
  for (const item of input) {
    if (typeof item === 'number') total += 1;
    else total += countInputTokens(item);
  }
  return total;
}
