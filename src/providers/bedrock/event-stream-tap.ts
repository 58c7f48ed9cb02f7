import type { StreamResult, StreamTap, StreamTapOptions } from '../types.js';
import { createByteLog } from '../../sse/byte-log.js';
import { createGeneratedText, type GeneratedText } from '../generated-text.js';
import { field, isJsonObject, parseJson } from '../json.js';
import {
  mergeCounts,
  normaliseCounts,
  reconcileCounts,
  readConverseUsage,
  type BedrockCounts,
} from './counts.js';
import { createEventStreamReader, type EventStreamMessage } from './event-stream-reader.js';
import { converseDeltaText, readModelBody } from './model-body.js';
import { BEDROCK_OPERATIONS } from './routes.js';

/**
 * Taps of Bedrock's streamed answers (`application/vnd.amazon.eventstream`). Bytes are relayed
 * unchanged: `push` returns the very Buffer it was given, and the reader only looks.
 *
 * - ConverseStream (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html):
 *   events `messageStart`, `contentBlockStart|Delta|Stop`, `messageStop`, then `metadata` with
 *   `usage`, `metrics.latencyMs` and an optional guardrail `trace`. `metadata` is the last event
 *   and the only one with usage: it is the documented end (`completed`).
 * - InvokeModelWithResponseStream (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_InvokeModelWithResponseStream.html):
 *   `chunk` events whose `bytes` is the base64 of one event of the model's own stream; the last
 *   chunk also carries `amazon-bedrock-invocationMetrics`, Bedrock's billed counts, and is the
 *   documented end.
 *
 * Either may carry an exception message instead (`:message-type: exception`,
 * `:exception-type` e.g. `throttlingException`, `modelStreamErrorException`): `errored`. A
 * message that fails its CRC, or a stream cut mid-message, stops the reading: the result is
 * neither completed nor errored, so the core records what was read as `partial`. Guardrail
 * `trace` usage (policy units) and `metrics` (milliseconds) are never read as tokens.
 */

const EMPTY = Buffer.alloc(0);

/**
 * The `:event-type: contentBlockDelta` header as encoded (name length, name, type 7 = string,
 * value length, value): a ConverseStream message holding it carries only generated text.
 */
const DELTA_HEADER = Buffer.from('\x0b:event-type\x07\x00\x11contentBlockDelta', 'latin1');

/** Most bytes of unread delta messages a stream keeps before reading them (then let go). */
const MAX_DEFERRED_BYTES = 4 * 1024 * 1024;

/**
 * The text deltas of a ConverseStream, kept unread (their text is needed only if tokens must be
 * estimated), in a ByteLog: bounded bytes, then read and folded into bounded text (as
 * sse/event-log.ts does for SSE events).
 */
function createDeltaLog(): { append(message: Buffer): void; text(): string } {
  const log = createByteLog(16 * 1024, MAX_DEFERRED_BYTES);
  const folded = createGeneratedText();
  const readInto = (bytes: Buffer, text: GeneratedText): void => {
    if (text.full) return;
    createEventStreamReader({ maxMessageBytes: Math.max(bytes.length, 1) }).push(bytes, (message) => {
      const payload = parseJson(Buffer.from(message.payload).toString('utf8'));
      text.add(converseDeltaText(field(payload, 'delta')));
    });
  };
  return {
    append(message) {
      if (log.length + message.length > MAX_DEFERRED_BYTES) {
        readInto(log.bytes(), folded);
        log.clear();
      }
      if (message.length > MAX_DEFERRED_BYTES) readInto(message, folded);
      else log.append(message);
    },
    text() {
      const all = createGeneratedText();
      all.add(folded.text());
      readInto(log.bytes(), all);
      return all.text();
    },
  };
}

interface TapState {
  /** The model's own counts (Converse `usage` for ConverseStream). */
  counts?: BedrockCounts;
  /** Bedrock's billed counts (invocation metrics). */
  billed?: BedrockCounts;
  responseModel?: string;
  completed: boolean;
  errored: boolean;
}

/** Reads one ConverseStream event into the state. */
function applyConverseEvent(
  state: TapState,
  message: EventStreamMessage,
  payload: unknown,
  addText: (text: string) => void,
): void {
  switch (message.eventType) {
    case 'contentBlockDelta':
      addText(converseDeltaText(field(payload, 'delta')));
      break;
    case 'metadata': {
      // Only the event's own `usage`: `trace.guardrail…usage` counts policy units, not tokens.
      const usage = readConverseUsage(field(payload, 'usage'));
      if (usage !== undefined) state.counts = mergeCounts(state.counts, usage);
      state.completed = true;
      break;
    }
    default:
      break;
  }
}

/** Reads one InvokeModelWithResponseStream `chunk` event into the state. */
function applyInvokeChunk(state: TapState, payload: unknown, addText: (text: string) => void): void {
  const bytes = field(payload, 'bytes');
  if (typeof bytes !== 'string') return;
  const facts = readModelBody(parseJson(Buffer.from(bytes, 'base64').toString('utf8')));
  if (facts.counts !== undefined) state.counts = mergeCounts(state.counts, facts.counts);
  if (facts.responseModel !== undefined) state.responseModel = facts.responseModel;
  if (facts.text !== undefined) addText(facts.text);
  if (facts.errored === true) state.errored = true;
  if (facts.billed !== undefined) {
    state.billed = mergeCounts(state.billed, facts.billed);
    state.completed = true;
  }
}

/**
 * Creates the tap of a streamed Bedrock answer. `operation` is the route's (ConverseStream or
 * InvokeModelWithResponseStream); messages larger than `maxEventBytes` are passed unread
 * (`eventTooLarge`), the reading goes on after them.
 */
export function createBedrockStreamTap(operation: string, options: StreamTapOptions): StreamTap {
  const state: TapState = { completed: false, errored: false };
  const text = createGeneratedText();
  const addText = (value: string): void => {
    if (value !== '') text.add(value);
  };
  let tooLarge = false;
  let usageAfterTooLarge = false;
  const converse = operation === BEDROCK_OPERATIONS.converseStream;
  // ConverseStream text deltas are kept unread; invoke chunks may each carry counts: all read.
  const deltas = converse ? createDeltaLog() : undefined;
  const reader = createEventStreamReader({
    ...(options.maxEventBytes !== undefined ? { maxMessageBytes: options.maxEventBytes } : {}),
    onTooLarge: () => {
      if (!tooLarge) options.onEventTooLarge?.();
      tooLarge = true;
      usageAfterTooLarge = false;
    },
    ...(deltas !== undefined
      ? {
          defer: (headers: Buffer) => headers.includes(DELTA_HEADER),
          onDeferred: (message: Buffer) => deltas.append(message),
        }
      : {}),
  });

  const visit = (message: EventStreamMessage): void => {
    // Nothing after the documented end is read.
    if (state.completed) return;
    if (message.messageType === 'exception' || message.messageType === 'error') {
      state.errored = true;
      return;
    }
    const payload = parseJson(Buffer.from(message.payload).toString('utf8'));
    if (!isJsonObject(payload)) return;
    const before = state.counts;
    const billedBefore = state.billed;
    if (converse) applyConverseEvent(state, message, payload, addText);
    else if (message.eventType === 'chunk') applyInvokeChunk(state, payload, addText);
    if (tooLarge && (state.counts !== before || state.billed !== billedBefore)) usageAfterTooLarge = true;
  };

  return {
    push(chunk) {
      if (!state.completed && !reader.corrupt) reader.push(chunk, visit);
      return chunk;
    },
    flush: () => EMPTY,
    isComplete: () => state.completed,
    result(): StreamResult {
      const { counts, flags } = reconcileCounts(state.counts, state.billed);
      let generated: string | undefined;
      const out: StreamResult = {
        usage: Object.keys(counts).length === 0 ? {} : normaliseCounts(counts),
        // Read only when asked (for estimation): the deferred deltas are decoded then.
        get generatedText(): string {
          generated ??= deltas === undefined ? text.text() : deltas.text() + text.text();
          return generated;
        },
        completed: state.completed,
        errored: state.errored,
      };
      if (state.responseModel !== undefined) out.responseModel = state.responseModel;
      if (flags !== undefined) out.flags = flags;
      if (tooLarge) {
        out.eventTooLarge = true;
        out.usageAfterTooLarge = usageAfterTooLarge;
      }
      return out;
    },
  };
}
