import type { StreamTap, StreamTapOptions } from '../types.js';
import { createEventLog } from '../../sse/event-log.js';
import { createSseTap, type SseVerdict } from '../../sse/sse-tap.js';
import { field, isJsonObject, parseJson, readText } from '../json.js';
import { createStreamAccumulator, type EventFacts } from './stream-state.js';
import { readChatUsageReport } from './usage.js';
import { choicesText } from './choices-text.js';

/**
 * Streams of Chat Completions and legacy Completions: `data: <chunk JSON>` events ending with
 * `data: [DONE]` (https://platform.openai.com/docs/api-reference/chat-streaming).
 */

interface ChatChunk {
  facts: EventFacts;
  /** The chunk only carries usage: `choices: []` and a non-null `usage`. */
  usageOnly: boolean;
}

/**
 * Reads one chunk. Usage comes in a chunk of its own (`choices: []`), and not necessarily the
 * last one, so any non-null `usage` is taken. OpenAI-compatible servers differ
 * (docs/openai-compatible.md): DeepSeek, OpenRouter, Perplexity and Groq put it on a chunk
 * that has choices (it is read all the same, and such a chunk is never dropped); vLLM with
 * `continuous_usage_stats` and Perplexity send a running total on every chunk (each replaces
 * the last, never summed); Groq repeats it in `x_groq.usage`, which is read only when the
 * chunk has no top-level `usage`, so it is counted once. Azure's first chunk also has `choices: []` but
 * carries `prompt_filter_results` and no usage: it is neither usage nor to be stripped
 * (https://learn.microsoft.com/azure/ai-foundry/openai/concepts/content-filter). Malformed JSON
 * is ignored.
 */
export function readChatChunk(data: string): ChatChunk {
  if (data === '[DONE]') return { facts: { completed: true }, usageOnly: false };
  const chunk = parseJson(data);
  if (!isJsonObject(chunk)) return { facts: {}, usageOnly: false };
  const facts: EventFacts = {};
  const report = readChatUsageReport(chunk['usage']);
  const usage = report ?? readChatUsageReport(field(chunk['x_groq'], 'usage'));
  if (usage !== undefined) {
    facts.usage = usage.usage;
    if (usage.providerCost !== undefined) facts.providerCost = usage.providerCost;
    if (usage.tokenDetails !== undefined) facts.tokenDetails = usage.tokenDetails;
  }
  const model = readText(chunk['model']);
  if (model !== undefined) facts.responseModel = model;
  // A mid-stream failure arrives as a chunk holding an `error` object.
  if (isJsonObject(chunk['error'])) facts.errored = true;
  const choices = chunk['choices'];
  const text = Array.isArray(choices) ? choicesText(choices, 'delta') : '';
  if (text !== '') facts.text = text;
  // Only the shape of the answer to include_usage is usage-only: a chunk with choices keeps
  // its content whatever it carries, and Groq's x_groq block is not what the gateway asked for.
  const usageOnly = Array.isArray(choices) && choices.length === 0 && report !== undefined;
  return { facts, usageOnly };
}

/**
 * A chunk that may say more than generated text: one with a `usage` or `error` object. The key
 * must follow `{` or `,`, so the same characters escaped inside a string value never match;
 * a false positive only costs a full parse.
 */
const MAY_CARRY_FACTS = /[{,]\s*"(?:usage|error)"\s*:\s*\{/;

/**
 * A tap for chat/completions streams. Every event's bytes go to an event log (bounded: see
 * sse/event-log.ts); chunks that can only carry text (and the model) are not parsed while the
 * stream runs: their text is read from the log only if tokens must be estimated, and the model
 * only if no usage chunk named it. Any chunk that may hold usage or an error is parsed at once.
 * With `stripUsageChunk` (the gateway added `include_usage`), exactly the usage-only chunk is
 * dropped, so the client sees its own stream. A chunk that has choices and also carries usage
 * (DeepSeek's last content chunk, vLLM's running totals) is forwarded byte for byte: its
 * content is the client's, and the gateway cannot tell a `usage` member the provider sends
 * anyway (Groq, Perplexity) from one it provoked, so it never rewrites a chunk
 * (docs/openai-compatible.md, "A usage chunk with choices"). `data: [DONE]` is the documented end: nothing
 * after it is read or dropped (sse-tap.ts).
 */
export function createChatStreamTap(options: StreamTapOptions): StreamTap {
  const log = createEventLog((event) => {
    const { facts } = readChatChunk(event.data);
    return { text: facts.text, model: facts.responseModel };
  });
  const state = createStreamAccumulator(log);
  return createSseTap(
    {
      onEvent(event): SseVerdict {
        log.append(event.raw);
        if (event.data !== '[DONE]' && !MAY_CARRY_FACTS.test(event.data)) return 'keep';
        const { facts, usageOnly } = readChatChunk(event.data);
        // Its text, if any, is read from the log with the others, in stream order.
        delete facts.text;
        state.apply(facts);
        return options.stripUsageChunk && usageOnly ? 'drop' : 'keep';
      },
      isComplete: () => state.isComplete(),
      usage: () => state.usage(),
      result: (trailing) =>
        state.result(trailing === undefined ? undefined : readChatChunk(trailing.data).facts),
    },
    options,
  );
}
