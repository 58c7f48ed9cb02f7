import type { ServerResponse } from 'node:http';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import type { StreamOutcome } from './sse.js';

/**
 * Bedrock's binary event stream (`application/vnd.amazon.eventstream`) for the simulator:
 * frames encoded with @smithy/eventstream-codec (the AWS SDKs' own codec, so the CRCs are
 * right) and a paced writer of them.
 *
 * Frame shapes follow the ConverseStream recording of pydantic-ai
 * (tests/models/cassettes/test_bedrock/test_bedrock_model_stream.yaml): every event carries the
 * headers `:event-type`, `:content-type: application/json`, `:message-type: event`, in that order,
 * and its JSON payload has a `p` member (padding that varies the frame length) beside the event's
 * own members, keys in alphabetical order. Exceptions are `:message-type: exception` frames with an
 * `:exception-type` header (https://smithy.io/2.0/aws/amazon-eventstream.html; the SDK's
 * event-stream unmarshaller reads the same headers).
 */

const codec = new EventStreamCodec(toUtf8, fromUtf8);

/** The content type of an event stream answer. */
export const EVENTSTREAM_CONTENT_TYPE = 'application/vnd.amazon.eventstream';

const PADDING_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/**
 * The padding Bedrock adds to each event (`"p":"abcdefgh…"`): a prefix of the alphabet whose
 * length varies per event. Here it is derived from the event's index, so answers stay
 * deterministic.
 */
export function padding(index: number): string {
  return PADDING_ALPHABET.slice(0, 1 + ((index * 7 + 3) % PADDING_ALPHABET.length));
}

/** An `event` frame: `:event-type` = `eventType`, JSON payload. */
export function eventFrame(eventType: string, payload: unknown): Uint8Array {
  return codec.encode({
    headers: {
      ':event-type': { type: 'string', value: eventType },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'event' },
    },
    body: fromUtf8(JSON.stringify(payload)),
  });
}

/**
 * An `exception` frame, e.g. `throttlingException` or `modelStreamErrorException` (the member
 * names of the ConverseStreamOutput / ResponseStream unions), with the JSON payload `body`.
 */
export function exceptionFrame(exceptionType: string, body: Record<string, unknown>): Uint8Array {
  return codec.encode({
    headers: {
      ':exception-type': { type: 'string', value: exceptionType },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'exception' },
    },
    body: fromUtf8(JSON.stringify(body)),
  });
}

/** An event frame whose payload is not JSON (its CRCs are right): the `invalid-json` failure. */
export function malformedEventFrame(eventType: string): Uint8Array {
  return codec.encode({
    headers: {
      ':event-type': { type: 'string', value: eventType },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'event' },
    },
    body: fromUtf8('{"contentBlockIndex":0,"delta":{"text":"'),
  });
}

/**
 * A copy of `frame` with one payload byte flipped: its message CRC (the last 4 bytes) no longer
 * matches, as after a bit error on the wire. The prelude (lengths and their CRC) stays valid, so a
 * decoder reads the whole frame before it finds the fault.
 */
export function corruptFrame(frame: Uint8Array): Uint8Array {
  const copy = Uint8Array.from(frame);
  const at = copy.length - 5; // the last payload byte, just before the message CRC
  copy[at] = (copy[at] ?? 0) ^ 0x20;
  return copy;
}

/** The first half of `frame`: a frame cut mid-way (its prelude announces more bytes). */
export function truncatedFrame(frame: Uint8Array): Uint8Array {
  return frame.subarray(0, Math.max(1, Math.floor(frame.length / 2)));
}

/**
 * A stream of frames rendered ahead of time: `head` is sent at once, each entry of `steps` is one
 * generated token's frame, paced by tokensPerSecond, then `tail` ends the stream.
 */
export interface FramePlan {
  head: Uint8Array[];
  steps: Uint8Array[];
  tail: Uint8Array[];
}

/** Options of {@link writeFrames}. */
export interface WriteFramesOptions {
  /** Response headers besides the content type (e.g. `x-amzn-requestid`). */
  headers: Record<string, string>;
  /** Token steps per second; 0 sends everything at once. */
  tokensPerSecond: number;
  /** Destroy the socket after this many steps (the tail is never sent). */
  cutAfterSteps?: number;
}

/**
 * Writes a planned event stream, like sse.ts's writeStream does for text frames: step k is due
 * k/tokensPerSecond seconds after the head, each timer tick writes every step that is due, and
 * backpressure is honoured. Resolves once the stream is finished, cut or aborted by the client;
 * never rejects.
 */
export function writeFrames(
  res: ServerResponse,
  plan: FramePlan,
  options: WriteFramesOptions,
): Promise<StreamOutcome> {
  const { tokensPerSecond, cutAfterSteps } = options;
  const steps = plan.steps;
  const stopAt = cutAfterSteps === undefined ? steps.length : Math.min(cutAfterSteps, steps.length);
  return new Promise<StreamOutcome>((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (outcome: StreamOutcome): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      resolve(outcome);
    };
    res.once('close', () => settle(res.writableFinished ? 'completed' : 'aborted'));
    res.writeHead(200, { 'content-type': EVENTSTREAM_CONTENT_TYPE, ...options.headers });

    const finish = (chunk: Buffer): void => {
      if (cutAfterSteps !== undefined) {
        // Once the bytes are flushed, drop the connection without the chunked terminator.
        res.write(chunk, () => {
          settle('cut');
          res.destroy();
        });
      } else {
        res.end(Buffer.concat([chunk, ...plan.tail]), () => settle('completed'));
      }
    };

    if (tokensPerSecond <= 0) {
      finish(Buffer.concat([...plan.head, ...steps.slice(0, stopAt)]));
      return;
    }

    let next = 0;
    res.write(Buffer.concat(plan.head));
    const start = performance.now();
    const tick = (): void => {
      timer = undefined;
      if (settled) return;
      const due = Math.min(stopAt, Math.floor(((performance.now() - start) * tokensPerSecond) / 1000));
      const chunk: Uint8Array[] = [];
      while (next < due) chunk.push(steps[next++] ?? new Uint8Array());
      if (next >= stopAt) {
        finish(Buffer.concat(chunk));
        return;
      }
      const flushed = chunk.length === 0 || res.write(Buffer.concat(chunk));
      if (flushed) schedule();
      else res.once('drain', schedule);
    };
    const schedule = (): void => {
      if (settled) return;
      const dueAt = start + ((next + 1) * 1000) / tokensPerSecond;
      timer = setTimeout(tick, Math.max(0, dueAt - performance.now()));
    };
    schedule();
  });
}
