import { createGeneratedText, MAX_GENERATED_TEXT_CHARS } from '../providers/generated-text.js';
import { createByteLog, type ByteLog } from './byte-log.js';
import { createSseFramer, type SseEvent } from './sse-framer.js';

/** Most bytes of unread events a stream keeps: 4 MiB (then they are read and let go). */
export const MAX_EVENT_LOG_BYTES = 4 * 1024 * 1024;

/** What a deferred event says that a tap may need at the end: its text and the model. */
export interface DeferredFacts {
  text?: string | undefined;
  model?: string | undefined;
}

/**
 * Events a tap keeps unread while the stream runs (their text is needed only if tokens must
 * be estimated, their model only if no other event named it), with bounded memory.
 */
export interface EventLog {
  /** Keeps one complete event (its exact bytes, as the framer handed them). */
  append(raw: Buffer): void;
  /** The generated text of every event appended, in order (at most the text bound). */
  text(): string;
  /** The first model an appended event names. */
  model(): string | undefined;
}

export interface EventLogOptions {
  /** Bytes of unread events kept at most (default MAX_EVENT_LOG_BYTES). */
  maxLogBytes?: number;
  /** Characters of text kept at most (default MAX_GENERATED_TEXT_CHARS). */
  maxTextChars?: number;
}

/**
 * Creates a log. Events are kept as bytes in a ByteLog (no heap object per event, see
 * byte-log.ts) until it holds `maxLogBytes`; then the kept events are read once, their text
 * and model folded into a bounded GeneratedText, and the bytes let go. An event larger than
 * the log is read at once. Memory per stream is thus at most `maxLogBytes` of bytes plus
 * `maxTextChars` of text, whatever the length of the stream; a stream that reports its usage
 * and stays under the log bound never pays a read.
 */
export function createEventLog(
  read: (event: SseEvent) => DeferredFacts,
  options: EventLogOptions = {},
): EventLog {
  const maxLogBytes = options.maxLogBytes ?? MAX_EVENT_LOG_BYTES;
  const maxTextChars = options.maxTextChars ?? MAX_GENERATED_TEXT_CHARS;
  const log: ByteLog = createByteLog(Math.min(16 * 1024, maxLogBytes), maxLogBytes);
  const folded = createGeneratedText(maxTextChars);
  let foldedModel: string | undefined;

  /** The facts of the events in `raw` (complete events, each at most maxLogBytes), in order. */
  function* factsIn(raw: Buffer): Generator<DeferredFacts> {
    const framer = createSseFramer({ maxEventSize: Math.max(maxLogBytes, raw.length) });
    for (const frame of [...framer.push(raw), framer.end()])
      if (frame?.kind === 'event' && frame.hasData) yield read(frame);
  }

  const fold = (raw: Buffer): void => {
    // Text that cannot be kept and a model already known: nothing left to read.
    if (folded.full && foldedModel !== undefined) return;
    for (const facts of factsIn(raw)) {
      if (facts.text !== undefined) folded.add(facts.text);
      foldedModel ??= facts.model;
    }
  };

  return {
    append(raw) {
      if (log.length + raw.length > maxLogBytes) {
        fold(log.bytes());
        log.clear();
      }
      if (raw.length > maxLogBytes) fold(raw);
      else log.append(raw);
    },
    text() {
      const all = createGeneratedText(maxTextChars);
      all.add(folded.text());
      if (!all.full) for (const facts of factsIn(log.bytes())) all.add(facts.text ?? '');
      return all.text();
    },
    model() {
      if (foldedModel !== undefined) return foldedModel;
      for (const facts of factsIn(log.bytes())) if (facts.model !== undefined) return facts.model;
      return undefined;
    },
  };
}
