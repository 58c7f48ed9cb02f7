import type { IncomingHttpHeaders } from 'node:http';
import { CUT_AFTER_STEPS, FAIL_HEADER, type FailureMode } from './failures.js';
import {
  corruptFrame,
  exceptionFrame,
  malformedEventFrame,
  truncatedFrame,
  type FramePlan,
} from './bedrock-eventstream.js';
import { SimulatorHttpError } from './types.js';

/**
 * Failures on demand for the Bedrock routes, chosen like every other family's with the
 * `x-simulator-fail` header. The common modes (failures.ts) keep their meaning:
 * - `500` / `429`: an `InternalServerException` / `ThrottlingException` answer;
 * - `invalid-json`: a JSON answer cut in half; a stream whose first delta frame has a payload
 *   that is not JSON (its CRCs are right);
 * - `cut-stream`: the socket is destroyed after {@link CUT_AFTER_STEPS} token frames (JSON:
 *   after half of the announced body);
 * - `stream-error`: after {@link CUT_AFTER_STEPS} token frames an `internalServerException`
 *   exception frame, then the stream ends normally (JSON: a 500).
 * And the event-stream ones (streams only; a 400 on the JSON operations, except the two
 * exceptions, which a JSON operation answers as the matching HTTP error):
 * - `crc-corrupt`: after {@link CUT_AFTER_STEPS} token frames, one frame with a flipped payload
 *   byte (its message CRC fails), then the rest of the stream as if nothing happened;
 * - `truncated-frame`: after {@link CUT_AFTER_STEPS} token frames, the first half of the next
 *   frame, then the socket is destroyed;
 * - `throttling-exception` / `model-stream-error`: after {@link CUT_AFTER_STEPS} token frames a
 *   `throttlingException` / `modelStreamErrorException` exception frame, then the end (JSON:
 *   429 `ThrottlingException` / 424 `ModelErrorException`).
 * Failed requests add nothing to the token totals of the simulator's stats.
 */
export type BedrockFailureMode =
  FailureMode | 'crc-corrupt' | 'truncated-frame' | 'throttling-exception' | 'model-stream-error';

const MODES: readonly BedrockFailureMode[] = [
  '500',
  '429',
  'invalid-json',
  'cut-stream',
  'stream-error',
  'crc-corrupt',
  'truncated-frame',
  'throttling-exception',
  'model-stream-error',
];

/** The failure a Bedrock request asks for; an unknown value is a 400 so that typos in tests show. */
export function bedrockFailureMode(headers: IncomingHttpHeaders): BedrockFailureMode | undefined {
  const value = headers[FAIL_HEADER];
  if (value === undefined) return undefined;
  const mode = MODES.find((m) => m === value);
  if (mode === undefined) {
    throw bedrockError(
      400,
      'ValidationException',
      `Unknown ${FAIL_HEADER} value; expected one of ${MODES.join(', ')}.`,
    );
  }
  return mode;
}

/**
 * A Bedrock error: the status, the error type the `x-amzn-errortype` header names and the
 * message of the `{"message": …}` body (https://docs.aws.amazon.com/bedrock/latest/APIReference/CommonErrors.html).
 */
export function bedrockError(status: number, errorType: string, message: string): SimulatorHttpError {
  return new SimulatorHttpError(status, message, { type: errorType });
}

/** The HTTP error a mode makes of a call before any answer; undefined when the mode acts later. */
export function bedrockHttpFailure(
  mode: BedrockFailureMode,
  stream: boolean,
): SimulatorHttpError | undefined {
  switch (mode) {
    case '500':
      return bedrockError(
        500,
        'InternalServerException',
        'The server encountered an internal error (simulated).',
      );
    case '429':
      return bedrockError(429, 'ThrottlingException', 'Too many requests, please wait before trying again.');
    case 'stream-error':
      return stream ? undefined : bedrockHttpFailure('500', stream);
    case 'throttling-exception':
      return stream ? undefined : bedrockHttpFailure('429', stream);
    case 'model-stream-error':
      return stream
        ? undefined
        : bedrockError(424, 'ModelErrorException', 'The model returned an error (simulated).');
    case 'crc-corrupt':
    case 'truncated-frame':
      return stream
        ? undefined
        : bedrockError(400, 'ValidationException', `${mode} applies to streamed operations only.`);
    default:
      return undefined;
  }
}

/** The exception frame of the modes that end a stream with one. */
function failureException(mode: BedrockFailureMode): Uint8Array | undefined {
  if (mode === 'stream-error') {
    return exceptionFrame('internalServerException', {
      message: 'The server encountered an internal error (simulated).',
    });
  }
  if (mode === 'throttling-exception') {
    return exceptionFrame('throttlingException', {
      message: 'Too many requests, please wait before trying again.',
    });
  }
  if (mode === 'model-stream-error') {
    // The members of ModelStreamErrorException (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html).
    return exceptionFrame('modelStreamErrorException', {
      message: 'The model stream failed (simulated).',
      originalMessage: 'simulated model failure',
      originalStatusCode: 500,
    });
  }
  return undefined;
}

/**
 * The plan of a failing stream, and whether the socket is cut after {@link CUT_AFTER_STEPS} (or,
 * for `truncated-frame`, one more, half) step. `deltaType` names the event type of a token step
 * (the malformed frame of `invalid-json` uses it).
 */
export function failingFramePlan(
  plan: FramePlan,
  mode: BedrockFailureMode | undefined,
  deltaType: string,
): { plan: FramePlan; cutAfterSteps?: number } {
  if (mode === undefined) return { plan };
  const before = plan.steps.slice(0, CUT_AFTER_STEPS);
  const next = plan.steps[CUT_AFTER_STEPS] ?? plan.tail[0];
  switch (mode) {
    case 'invalid-json':
      return { plan: { ...plan, steps: [malformedEventFrame(deltaType), ...plan.steps] } };
    case 'cut-stream':
      return { plan, cutAfterSteps: CUT_AFTER_STEPS };
    case 'crc-corrupt': {
      if (next === undefined) return { plan };
      const rest = plan.steps.slice(CUT_AFTER_STEPS + 1);
      const steps = [...before, corruptFrame(next), ...rest];
      // When the corrupt frame was the tail's first, the tail goes on from its second frame.
      const tail = plan.steps[CUT_AFTER_STEPS] === undefined ? plan.tail.slice(1) : plan.tail;
      return { plan: { head: plan.head, steps, tail } };
    }
    case 'truncated-frame': {
      if (next === undefined) return { plan, cutAfterSteps: before.length };
      return {
        plan: { ...plan, steps: [...before, truncatedFrame(next)] },
        cutAfterSteps: before.length + 1,
      };
    }
    default: {
      const exception = failureException(mode);
      return exception === undefined
        ? { plan }
        : { plan: { head: plan.head, steps: before, tail: [exception] } };
    }
  }
}
