import type { StreamResult, StreamTap, StreamTapOptions } from '../types.js';
import { createEventLog } from '../../sse/event-log.js';
import { createSseTap, type SseVerdict } from '../../sse/sse-tap.js';
import type { TokenUsage } from '../../usage.js';
import { field, isJsonObject, parseJson, readText } from '../json.js';
import { readCohereUsage } from './usage.js';

/**
 * Streams of the v2 chat API (https://docs.cohere.com/docs/streaming): server-sent events
 * `event: <type>` + `data: <JSON with the same type>`: `message-start`, `content-start`,
 * `content-delta` (text or thinking), `tool-plan-delta`, `tool-call-start|delta|end`,
 * `citation-start|end`, `content-end`, and `message-end`, whose `delta.usage` holds the usage
 * (the same object as a complete answer's `usage`) and `delta.finish_reason`. `message-end` is
 * the documented end: the `data: [DONE]` Cohere sends after it is forwarded, never read. An
 * error event (`type: error`) or a `finish_reason` of ERROR marks the stream errored.
 */

/** What one stream event says; every field is optional. */
export interface CohereEventFacts {
  usage?: TokenUsage;
  text?: string;
  completed?: boolean;
  errored?: boolean;
}

interface NamedData {
  event: string;
  data: string;
}

/** Reads one stream event; malformed JSON is ignored. The JSON `type` wins over the event name. */
export function readCohereEvent(event: NamedData): CohereEventFacts {
  const payload = parseJson(event.data);
  if (!isJsonObject(payload)) return {};
  const type = readText(payload['type']) ?? event.event;
  const delta = payload['delta'];
  const message = field(delta, 'message');
  switch (type) {
    case 'content-delta': {
      const content = field(message, 'content');
      const text = stringOf(field(content, 'text')) + stringOf(field(content, 'thinking'));
      return text === '' ? {} : { text };
    }
    case 'tool-plan-delta': {
      const text = stringOf(field(message, 'tool_plan'));
      return text === '' ? {} : { text };
    }
    case 'tool-call-start':
    case 'tool-call-delta': {
      const text = stringOf(field(field(field(message, 'tool_calls'), 'function'), 'arguments'));
      return text === '' ? {} : { text };
    }
    case 'message-end': {
      const facts: CohereEventFacts = { completed: true, usage: readCohereUsage(field(delta, 'usage')) };
      if (field(delta, 'finish_reason') === 'ERROR') facts.errored = true;
      return facts;
    }
    case 'error':
      return { errored: true };
    default:
      return {};
  }
}

const stringOf = (value: unknown): string => (typeof value === 'string' ? value : '');

/** Events that carry generated output: kept unparsed, read only when tokens must be estimated. */
const DELTA_EVENTS: ReadonlySet<string> = new Set([
  'content-delta',
  'tool-plan-delta',
  'tool-call-start',
  'tool-call-delta',
]);
/** Events that carry nothing a meter needs: not parsed. */
const IGNORED_EVENTS: ReadonlySet<string> = new Set([
  'content-start',
  'content-end',
  'tool-call-end',
  'citation-start',
  'citation-end',
]);

/** A tap for v2 chat streams: Cohere always sends usage, so nothing is ever stripped. */
export function createCohereStreamTap(options: StreamTapOptions): StreamTap {
  let usage: TokenUsage = {};
  let completed = false;
  let errored = false;
  const output = createEventLog((event) => ({ text: readCohereEvent(event).text }));

  const apply = (facts: CohereEventFacts): void => {
    if (facts.usage !== undefined) usage = facts.usage;
    if (facts.completed === true) completed = true;
    if (facts.errored === true) errored = true;
  };

  const result = (pending: CohereEventFacts | undefined): StreamResult => {
    let generated: string | undefined;
    return {
      usage: pending?.usage ?? usage,
      get generatedText(): string {
        generated ??= output.text() + (pending?.text ?? '');
        return generated;
      },
      completed: completed || pending?.completed === true,
      errored: errored || pending?.errored === true,
    };
  };

  return createSseTap(
    {
      onEvent(event): SseVerdict {
        if (IGNORED_EVENTS.has(event.event)) return 'keep';
        if (DELTA_EVENTS.has(event.event)) {
          output.append(event.raw);
          return 'keep';
        }
        const facts = readCohereEvent(event);
        if (facts.text !== undefined) output.append(event.raw);
        apply(facts);
        return 'keep';
      },
      isComplete: () => completed,
      usage: () => usage,
      result: (trailing) => result(trailing === undefined ? undefined : readCohereEvent(trailing)),
    },
    { ...options, stripUsageChunk: false },
  );
}
