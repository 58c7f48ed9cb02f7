// Builds Bedrock event-stream messages with @smithy/eventstream-codec, for the tests' bad
// inputs (no public recording holds an exception event or a corrupt frame: INDEX.md).
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';

const codec = new EventStreamCodec(toUtf8, fromUtf8);

const text = (value: string) => ({ type: 'string' as const, value });

/** An `event` message of the given `:event-type` with a JSON payload. */
export function eventMessage(eventType: string, payload: unknown): Buffer {
  return Buffer.from(
    codec.encode({
      headers: {
        ':event-type': text(eventType),
        ':content-type': text('application/json'),
        ':message-type': text('event'),
      },
      body: fromUtf8(JSON.stringify(payload)),
    }),
  );
}

/** An `exception` message (e.g. throttlingException, modelStreamErrorException). */
export function exceptionMessage(exceptionType: string, message: string): Buffer {
  return Buffer.from(
    codec.encode({
      headers: {
        ':exception-type': text(exceptionType),
        ':content-type': text('application/json'),
        ':message-type': text('exception'),
      },
      body: fromUtf8(JSON.stringify({ message })),
    }),
  );
}

/** A `chunk` event of InvokeModelWithResponseStream carrying one model event. */
export function chunkMessage(modelEvent: unknown): Buffer {
  return eventMessage('chunk', { bytes: Buffer.from(JSON.stringify(modelEvent)).toString('base64') });
}

/** A ConverseStream answer: messageStart, one text delta, messageStop, metadata with `usage`. */
export function converseStream(textOut: string, usage: unknown, extra: Record<string, unknown> = {}): Buffer {
  return Buffer.concat([
    eventMessage('messageStart', { role: 'assistant' }),
    eventMessage('contentBlockDelta', { contentBlockIndex: 0, delta: { text: textOut } }),
    eventMessage('contentBlockStop', { contentBlockIndex: 0 }),
    eventMessage('messageStop', { stopReason: 'end_turn' }),
    eventMessage('metadata', { usage, metrics: { latencyMs: 412 }, ...extra }),
  ]);
}
