import type { IncomingHttpHeaders } from 'node:http';
import type { StreamPlan } from './sse.js';
import { SimulatorHttpError } from './types.js';

/**
 * Upstream failures on demand, for tests of the gateway's error paths. A request asks for one
 * with the `x-simulator-fail` header:
 * - `500`: HTTP 500 with an OpenAI `server_error` body;
 * - `429`: HTTP 429 with an OpenAI `rate_limit_exceeded` body and `retry-after: 1`;
 * - `invalid-json`: HTTP 200 whose JSON body is cut in half (streams: a malformed `data:` frame
 *   after the head, then the rest of the stream);
 * - `cut-stream`: the socket is destroyed mid-answer (streams: after {@link CUT_AFTER_STEPS}
 *   token steps; JSON: after half of the declared content-length);
 * - `stream-error`: a stream fails after {@link CUT_AFTER_STEPS} token steps with the provider's
 *   error event (Anthropic `event: error`, else an OpenAI error chunk) and then ends normally;
 *   a JSON answer is a `500` instead.
 * Failed requests add nothing to the token totals of the simulator's stats.
 */
export type FailureMode = '500' | '429' | 'invalid-json' | 'cut-stream' | 'stream-error';

/** The request header that selects a {@link FailureMode}. */
export const FAIL_HEADER = 'x-simulator-fail';

/** Token steps sent before a `cut-stream` failure destroys the socket. */
export const CUT_AFTER_STEPS = 3;

const MODES: readonly FailureMode[] = ['500', '429', 'invalid-json', 'cut-stream', 'stream-error'];

/** The failure a request asks for; unknown values are a 400 so that typos in tests show. */
export function failureMode(headers: IncomingHttpHeaders): FailureMode | undefined {
  const value = headers[FAIL_HEADER];
  if (value === undefined) return undefined;
  const mode = MODES.find((m) => m === value);
  if (mode === undefined) {
    throw new SimulatorHttpError(400, `Unknown ${FAIL_HEADER} value; expected one of ${MODES.join(', ')}.`);
  }
  return mode;
}

/** The HTTP error of the `500` and `429` modes, undefined for the others. */
export function httpFailure(mode: FailureMode): SimulatorHttpError | undefined {
  if (mode === '500') {
    return new SimulatorHttpError(
      500,
      'The server had an error while processing your request. Sorry about that!',
      {
        type: 'server_error',
      },
    );
  }
  if (mode === '429') {
    return new SimulatorHttpError(
      429,
      'Rate limit reached for requests (simulated). Please try again in 1s.',
      {
        type: 'requests',
        code: 'rate_limit_exceeded',
      },
    );
  }
  return undefined;
}

/** A JSON body cut in half: valid UTF-8, invalid JSON. */
export function malformedJson(json: string): string {
  return json.slice(0, Math.max(1, Math.floor(json.length / 2)));
}

/** A stream whose first token frame is malformed JSON; the rest follows unchanged. */
export function malformedStream(plan: StreamPlan): StreamPlan {
  return {
    head: plan.head,
    steps: ['data: {"id":"malformed","choices":[{"delta":{"content":"\n\n', ...plan.steps],
    tail: plan.tail,
  };
}

/**
 * A mid-stream error chunk of the OpenAI shape: chat streams carry an `error` object
 * (the chat tap reads that), Responses streams an event of `type: "error"`; this one has both.
 */
export const OPENAI_STREAM_ERROR_FRAME =
  'data: {"type":"error","error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}\n\n';

/** A stream that fails after {@link CUT_AFTER_STEPS} token steps with `errorFrame`, then ends. */
export function failingStream(plan: StreamPlan, errorFrame: string): StreamPlan {
  return { head: plan.head, steps: plan.steps.slice(0, CUT_AFTER_STEPS), tail: errorFrame };
}
