import type { StreamTap, StreamTapOptions } from '../types.js';
import { createEventLog } from '../../sse/event-log.js';
import { createSseTap, type SseVerdict } from '../../sse/sse-tap.js';
import { isJsonObject, parseJson, readText } from '../json.js';
import { createStreamAccumulator, type EventFacts } from './stream-state.js';
import { readChatUsage } from './usage.js';
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
 * last one, so any non-null `usage` is taken. Azure's first chunk also has `choices: []` but
 * carries `prompt_filter_results` and no usage: it is neither usage nor to be stripped
 * (https://learn.microsoft.com/azure/ai-foundry/openai/concepts/content-filter). Malformed JSON
 * is ignored.
 */
export function readChatChunk(data: string): ChatChunk {
  if (data === '[DONE]') return { facts: { completed: true }, usageOnly: false };
  const chunk = parseJson(data);
  if (!isJsonObject(chunk)) return { facts: {}, usageOnly: false };
  const facts: EventFacts = {};
  const usage = readChatUsage(chunk['usage']);
  if (usage !== undefined) facts.usage = usage;
  const model = readText(chunk['model']);
  if (model !== undefined) facts.responseModel = model;
  // A mid-stream failure arrives as a chunk holding an `error` object.
  if (isJsonObject(chunk['error'])) facts.errored = true;
  const choices = chunk['choices'];
  const text = Array.isArray(choices) ? choicesText(choices, 'delta') : '';
  if (text !== '') facts.text = text;
  const usageOnly = Array.isArray(choices) && choices.length === 0 && usage !== undefined;
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
 * dropped, so the client sees its own stream. `data: [DONE]` is the documented end: nothing
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
