import type { StreamTap, StreamTapOptions } from '../types.js';
import { createSseTap, type SseVerdict } from '../../sse/sse-tap.js';
import type { SseEvent } from '../../sse/sse-framer.js';
import { isJsonObject, parseJson, readText } from '../json.js';
import { createStreamAccumulator, type EventFacts } from './stream-state.js';
import { readResponsesUsage } from './usage.js';

/**
 * Streams of the Responses API: `event: <type>` + `data: <JSON with the same type>` events
 * (https://platform.openai.com/docs/api-reference/responses-streaming). Usage is in the
 * `response` object of the terminal event; the earlier ones carry `usage: null`.
 */

/** Terminal events: the stream reached its documented end. */
// response.incomplete is a normal end (e.g. max_output_tokens reached) and carries usage too.
const TERMINAL: ReadonlySet<string> = new Set([
  'response.completed',
  'response.incomplete',
  'response.failed',
]);
/** Events whose `delta` is generated output (text, refusal, tool-call arguments). */
const OUTPUT_DELTAS: ReadonlySet<string> = new Set([
  'response.output_text.delta',
  'response.refusal.delta',
  'response.function_call_arguments.delta',
]);

/** Reads one Responses stream event; malformed JSON is ignored. */
export function readResponsesEvent(event: SseEvent): EventFacts {
  const payload = parseJson(event.data);
  if (!isJsonObject(payload)) return {};
  // The JSON `type` is authoritative; the SSE event name is the fallback.
  const type = readText(payload['type']) ?? event.event;
  const facts: EventFacts = {};
  const response = payload['response'];
  if (isJsonObject(response)) {
    const usage = readResponsesUsage(response['usage']);
    if (usage !== undefined) facts.usage = usage;
    const model = readText(response['model']);
    if (model !== undefined) facts.responseModel = model;
  }
  if (OUTPUT_DELTAS.has(type)) {
    const delta = payload['delta'];
    if (typeof delta === 'string' && delta !== '') facts.text = delta;
  }
  if (TERMINAL.has(type)) facts.completed = true;
  if (type === 'response.failed' || type === 'error') facts.errored = true;
  return facts;
}

/**
 * A tap for Responses streams: nothing is ever injected, so nothing is stripped. A terminal
 * event is the documented end: nothing after it is read (sse-tap.ts).
 */
export function createResponsesStreamTap(options: StreamTapOptions): StreamTap {
  const state = createStreamAccumulator();
  return createSseTap(
    {
      onEvent(event): SseVerdict {
        state.apply(readResponsesEvent(event));
        return 'keep';
      },
      isComplete: () => state.isComplete(),
      usage: () => state.usage(),
      result: (trailing) => state.result(trailing === undefined ? undefined : readResponsesEvent(trailing)),
    },
    { ...options, stripUsageChunk: false },
  );
}
