import type { StreamResult, StreamTap, StreamTapOptions } from '../types.js';
import { createEventLog } from '../../sse/event-log.js';
import { createSseTap, type SseVerdict } from '../../sse/sse-tap.js';
import { field, isJsonObject, parseJson, readText } from '../json.js';
import {
  mergeAnthropicCounts,
  normaliseAnthropicCounts,
  readAnthropicCounts,
  type AnthropicCounts,
} from './usage.js';

/**
 * Streams of the Messages API: `event: <type>` + `data: <JSON with the same type>` events
 * (https://docs.anthropic.com/en/docs/build-with-claude/streaming). `message_start` carries
 * the model and the first usage (input counts, a placeholder `output_tokens`), each
 * `message_delta` carries cumulative usage that replaces it, `message_stop` ends the stream,
 * and an `error` event (e.g. `overloaded_error`) can arrive instead of the rest.
 */

/** What one stream event says; every field is optional. */
export interface AnthropicEventFacts {
  /** Usage counts: each one replaces the earlier value (cumulative, never summed). */
  counts?: AnthropicCounts;
  /** The model the provider says answered (`message_start.message.model`). */
  responseModel?: string;
  /** Generated output carried by the event (text, tool input JSON, thinking). */
  text?: string;
  /** `message_stop`: the documented end of the stream. */
  completed?: boolean;
  /** An `error` event. */
  errored?: boolean;
}

/** Minimal view of an SSE event: its name and data. */
interface NamedData {
  event: string;
  data: string;
}

/** Reads one stream event; malformed JSON is ignored. The JSON `type` wins over the event name. */
export function readAnthropicEvent(event: NamedData): AnthropicEventFacts {
  const payload = parseJson(event.data);
  if (!isJsonObject(payload)) return {};
  const type = readText(payload['type']) ?? event.event;
  const facts: AnthropicEventFacts = {};
  switch (type) {
    case 'message_start': {
      const message = payload['message'];
      const counts = readAnthropicCounts(field(message, 'usage'));
      if (counts !== undefined) facts.counts = counts;
      const model = readText(field(message, 'model'));
      if (model !== undefined) facts.responseModel = model;
      break;
    }
    case 'message_delta': {
      const counts = readAnthropicCounts(payload['usage']);
      if (counts !== undefined) facts.counts = counts;
      break;
    }
    case 'content_block_delta': {
      const text = deltaText(payload['delta']);
      if (text !== '') facts.text = text;
      break;
    }
    case 'message_stop':
      facts.completed = true;
      break;
    case 'error':
      facts.errored = true;
      break;
    default:
      break;
  }
  return facts;
}

/** Output tokens of a content block delta: text, tool input JSON pieces and thinking. */
function deltaText(delta: unknown): string {
  switch (field(delta, 'type')) {
    case 'text_delta':
      return stringOf(field(delta, 'text'));
    case 'input_json_delta':
      return stringOf(field(delta, 'partial_json'));
    case 'thinking_delta':
      return stringOf(field(delta, 'thinking'));
    default:
      return '';
  }
}

const stringOf = (value: unknown): string => (typeof value === 'string' ? value : '');

/**
 * Events named so that they can carry nothing a meter needs: not parsed at all. Deltas are
 * kept unparsed and read only when tokens must be estimated, so a stream with reported usage
 * pays one JSON parse for `message_start`, `message_delta` and `message_stop` only.
 */
const IGNORED_EVENTS: ReadonlySet<string> = new Set(['ping', 'content_block_start', 'content_block_stop']);
const DELTA_EVENT = 'content_block_delta';

/**
 * A tap for Messages streams: Anthropic always sends usage, so nothing is ever stripped.
 * `message_stop` is the documented end: nothing after it is read (sse-tap.ts). Events that
 * carry generated output go to an event log in stream order, read only if tokens must be
 * estimated (bounded: see sse/event-log.ts).
 */
export function createAnthropicStreamTap(options: StreamTapOptions): StreamTap {
  let counts: AnthropicCounts | undefined;
  let responseModel: string | undefined;
  let completed = false;
  let errored = false;
  const output = createEventLog((event) => ({ text: readAnthropicEvent(event).text }));

  const apply = (facts: AnthropicEventFacts): void => {
    if (facts.counts !== undefined) counts = mergeAnthropicCounts(counts ?? {}, facts.counts);
    if (facts.responseModel !== undefined) responseModel = facts.responseModel;
    if (facts.completed === true) completed = true;
    if (facts.errored === true) errored = true;
  };

  const result = (pending: AnthropicEventFacts | undefined): StreamResult => {
    const merged =
      pending?.counts === undefined ? counts : mergeAnthropicCounts(counts ?? {}, pending.counts);
    let generated: string | undefined;
    const out: StreamResult = {
      usage: merged === undefined ? {} : normaliseAnthropicCounts(merged),
      get generatedText(): string {
        generated ??= output.text() + (pending?.text ?? '');
        return generated;
      },
      completed: completed || pending?.completed === true,
      errored: errored || pending?.errored === true,
    };
    const model = pending?.responseModel ?? responseModel;
    if (model !== undefined) out.responseModel = model;
    return out;
  };

  return createSseTap(
    {
      onEvent(event): SseVerdict {
        if (IGNORED_EVENTS.has(event.event)) return 'keep';
        if (event.event === DELTA_EVENT) {
          output.append(event.raw);
          return 'keep';
        }
        const facts = readAnthropicEvent(event);
        // A delta sent under another event name: its text is read from the log, in order.
        if (facts.text !== undefined) output.append(event.raw);
        apply(facts);
        return 'keep';
      },
      isComplete: () => completed,
      usage: () => (counts === undefined ? {} : normaliseAnthropicCounts(counts)),
      result: (trailing) => result(trailing === undefined ? undefined : readAnthropicEvent(trailing)),
    },
    { ...options, stripUsageChunk: false },
  );
}
