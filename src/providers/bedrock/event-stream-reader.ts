import { crc32 } from 'node:zlib';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { DEFAULT_MAX_EVENT_BYTES } from '../../sse/sse-framer.js';

/**
 * Incremental reading of `application/vnd.amazon.eventstream`, the binary framing of Bedrock's
 * streamed answers (https://docs.aws.amazon.com/transcribe/latest/dg/streaming-setting-up.html#streaming-event-stream
 * describes it; https://smithy.io/2.0/aws/amazon-eventstream.html). Each message is:
 * 4-byte total length, 4-byte headers length, 4-byte CRC32 of those 8 bytes (the prelude),
 * headers, payload, 4-byte CRC32 of everything before it; integers are big-endian.
 */

/** Prelude (two lengths and their CRC) and the trailing message CRC. */
const PRELUDE_BYTES = 12;
const MESSAGE_CRC_BYTES = 4;
const MIN_MESSAGE_BYTES = PRELUDE_BYTES + MESSAGE_CRC_BYTES;

/** One decoded message: its string headers and its payload bytes. */
export interface EventStreamMessage {
  /** `:message-type`: `event`, `exception` or `error`. */
  messageType?: string;
  /** `:event-type` (e.g. `metadata`, `chunk`) or, for an exception, `:exception-type`. */
  eventType?: string;
  payload: Uint8Array;
}

export interface EventStreamReaderOptions {
  /** Largest message read, in bytes; a larger one is skipped unread (default 64 MiB). */
  maxMessageBytes?: number;
  /** Called for each message skipped for its size. */
  onTooLarge?: () => void;
  /**
   * Messages to keep unread: given a whole message's header bytes, true hands the message to
   * `onDeferred` as it is (its CRC checked, nothing decoded). For the many events a meter needs
   * only if it must estimate (text deltas): decoding each would cost more than everything else.
   */
  defer?: (headers: Buffer) => boolean;
  /** Receives each deferred message's exact bytes (a view: copy what is kept). */
  onDeferred?: (message: Buffer) => void;
}

/** A reader fed the stream's bytes in order; it never throws. */
export interface EventStreamReader {
  /** Feeds bytes; `visit` gets each message they complete, in order. */
  push(chunk: Buffer, visit: (message: EventStreamMessage) => void): void;
  /** True once a message failed its CRC or lengths: nothing more is read. */
  readonly corrupt: boolean;
  /** True when bytes of an unfinished message are pending (the stream stopped mid-message). */
  readonly midMessage: boolean;
}

/** The string value of a header, else undefined. */
function stringHeader(
  headers: Record<string, { type: string; value: unknown }>,
  name: string,
): string | undefined {
  const header = headers[name];
  return header?.type === 'string' && typeof header.value === 'string' ? header.value : undefined;
}

/**
 * Creates a reader. Message bytes are collected as the slices they arrive in and joined once,
 * when the message is whole, so a message split over many chunks costs linear work. The
 * prelude CRC is checked as soon as the prelude is in, so a corrupt length is never waited
 * for; the whole message (message CRC, header syntax) is then checked and decoded by
 * @smithy/eventstream-codec's EventStreamCodec. The first failure stops the reader for good:
 * after a corrupt frame no later byte can be trusted to start a message.
 */
export function createEventStreamReader(options: EventStreamReaderOptions = {}): EventStreamReader {
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_EVENT_BYTES;
  const codec = new EventStreamCodec(toUtf8, fromUtf8);
  let parts: Buffer[] = [];
  let have = 0;
  /** Bytes wanted before the next step: the prelude, then the whole message. */
  let need = PRELUDE_BYTES;
  /** Bytes of a too-large message still to pass unread. */
  let skipping = 0;
  let corrupt = false;

  const reset = (): void => {
    parts = [];
    have = 0;
    need = PRELUDE_BYTES;
  };

  /** The prelude is in: checks it and decides whether the message is read or skipped. */
  const readPrelude = (): void => {
    const prelude = parts.length === 1 && parts[0] !== undefined ? parts[0] : Buffer.concat(parts);
    parts = [prelude];
    const total = prelude.readUInt32BE(0);
    const headersLength = prelude.readUInt32BE(4);
    if (
      crc32(prelude.subarray(0, 8)) !== prelude.readUInt32BE(8) ||
      total < MIN_MESSAGE_BYTES ||
      headersLength > total - MIN_MESSAGE_BYTES
    ) {
      corrupt = true;
      return;
    }
    if (total > maxMessageBytes) {
      options.onTooLarge?.();
      skipping = total - PRELUDE_BYTES;
      reset();
      return;
    }
    need = total;
  };

  const readMessage = (visit: (message: EventStreamMessage) => void): void => {
    const bytes = parts.length === 1 && parts[0] !== undefined ? parts[0] : Buffer.concat(parts);
    reset();
    const end = bytes.length - MESSAGE_CRC_BYTES;
    if (options.defer?.(bytes.subarray(PRELUDE_BYTES, PRELUDE_BYTES + bytes.readUInt32BE(4))) === true) {
      // The same check the codec makes, natively: a corrupt message stops the reading all the same.
      if (crc32(bytes.subarray(0, end)) !== bytes.readUInt32BE(end)) corrupt = true;
      else options.onDeferred?.(bytes);
      return;
    }
    let decoded;
    try {
      decoded = codec.decode(bytes);
    } catch {
      corrupt = true;
      return;
    }
    const headers = decoded.headers as Record<string, { type: string; value: unknown }>;
    const messageType = stringHeader(headers, ':message-type');
    const eventType =
      messageType === 'exception'
        ? stringHeader(headers, ':exception-type')
        : stringHeader(headers, ':event-type');
    visit({
      ...(messageType !== undefined ? { messageType } : {}),
      ...(eventType !== undefined ? { eventType } : {}),
      payload: decoded.body,
    });
  };

  return {
    get corrupt() {
      return corrupt;
    },
    get midMessage() {
      return !corrupt && (have > 0 || skipping > 0);
    },
    push(chunk, visit) {
      let offset = 0;
      while (offset < chunk.length && !corrupt) {
        if (skipping > 0) {
          const passed = Math.min(skipping, chunk.length - offset);
          skipping -= passed;
          offset += passed;
          continue;
        }
        const take = Math.min(need - have, chunk.length - offset);
        parts.push(chunk.subarray(offset, offset + take));
        have += take;
        offset += take;
        if (have < need) break;
        if (need === PRELUDE_BYTES) readPrelude();
        // A prelude announcing a message of 12 bytes or less was refused above.
        if (!corrupt && need > PRELUDE_BYTES && have === need) readMessage(visit);
      }
    },
  };
}
