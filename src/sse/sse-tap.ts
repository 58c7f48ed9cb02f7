import type { StreamResult, StreamTap, StreamTapOptions } from '../providers/types.js';
import { USAGE_FIELDS, type TokenUsage } from '../usage.js';
import { createSseFramer, DEFAULT_MAX_EVENT_BYTES, type SseEvent, type SseFrame } from './sse-framer.js';

/** What to do with one event: forward it to the client, or drop it. */
export type SseVerdict = 'keep' | 'drop';

/** The provider-specific part of an SSE stream tap. */
export interface SseEventHandler {
  /**
   * Reads one event that carries data, in stream order, and says whether to forward it. The
   * verdict only matters when the tap strips; the trailing event of a stream cut short arrives
   * here from `flush()` with `complete: false`. Never called after `isComplete()` turned true.
   */
  onEvent(event: SseEvent): SseVerdict;
  /**
   * The result so far. `trailing` is the event still held back (incomplete), to be read
   * without being consumed: a later push may complete it and hand it to `onEvent`.
   */
  result(trailing: SseEvent | undefined): StreamResult;
  /**
   * Whether an event seen so far marked the documented end of the stream (optional: a format
   * without end marker reads every event until the upstream closes). Must stay true once true.
   */
  isComplete?(): boolean;
  /** The usage read so far, cheaply (asked when an event is too large to read). */
  usage(): TokenUsage;
}

const EMPTY = Buffer.alloc(0);

/** Usage as a comparable key: cumulative formats re-report it, so only a change means news. */
export function usageKey(usage: TokenUsage): string {
  return USAGE_FIELDS.map((field) => usage[field] ?? '-').join(',');
}

/**
 * Builds a StreamTap around an SSE framer and a per-event handler.
 *
 * Without stripping, `push` returns the very Buffer it was given: parsing costs no copy and
 * never holds a byte back. With stripping, only complete events are forwarded (the bytes of an
 * event in progress are held until its blank line arrives or `flush()`), minus those the
 * handler drops; every other byte is forwarded unchanged and in order.
 *
 * An event over `maxEventBytes` is forwarded as it passes (never held, never dropped) and not
 * read; the events after it are read as usual. The result then says `eventTooLarge`, and
 * `onEventTooLarge` is called the first time.
 *
 * Once the handler says the stream reached its documented end, the tap stops framing: the bytes
 * held so far and everything after are forwarded as they come, and never read, dropped or
 * billed (a backend cannot replace the usage of a finished stream with a later one).
 *
 * @example
 * const tap = createSseTap({ onEvent: (e) => (e.data === 'x' ? 'drop' : 'keep'), result }, { stripUsageChunk: true });
 * socket.write(tap.push(chunk));
 */
export function createSseTap(handler: SseEventHandler, options: StreamTapOptions): StreamTap {
  const framer = createSseFramer({ maxEventSize: options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES });
  let flushed = false;
  /** The documented end was read: nothing after it is framed. */
  let ended = false;
  /** The usage read before the last event too large to read, as a comparable key. */
  let usageAtTooLarge: string | undefined;

  const visit = (frame: SseFrame): SseVerdict => {
    if (frame.kind === 'event') return frame.hasData ? handler.onEvent(frame) : 'keep';
    if (frame.kind === 'oversized' && frame.first) {
      if (usageAtTooLarge === undefined) options.onEventTooLarge?.();
      usageAtTooLarge = usageKey(handler.usage());
    }
    return 'keep';
  };

  /**
   * Visits the frames of one push until the documented end; `keep` receives the bytes to
   * forward. Past the end, the rest (later frames and bytes the framer holds) is kept unread.
   */
  const visitAll = (frames: SseFrame[], keep: (raw: Buffer) => void): boolean => {
    let dropped = false;
    for (const frame of frames) {
      if (ended) keep(frame.raw);
      else if (visit(frame) === 'drop') dropped = true;
      else keep(frame.raw);
      if (!ended && handler.isComplete?.() === true) ended = true;
    }
    if (ended) {
      const held = framer.end();
      if (held !== undefined) keep(held.raw);
    }
    return dropped;
  };

  const isComplete = (): boolean => ended;
  /** Reads the trailing event of a stream that stopped mid-event (it may be the end marker). */
  const visitLast = (last: SseEvent): SseVerdict => {
    const verdict = visit(last);
    if (handler.isComplete?.() === true) ended = true;
    return verdict;
  };

  const result = (): StreamResult => {
    const trailing = flushed || ended ? undefined : framer.peek();
    const out = handler.result(trailing?.hasData === true ? trailing : undefined);
    if (usageAtTooLarge !== undefined) {
      out.eventTooLarge = true;
      out.usageAfterTooLarge = usageKey(out.usage) !== usageAtTooLarge;
    }
    return out;
  };

  if (!options.stripUsageChunk) {
    const ignore = (): void => undefined;
    return {
      push(chunk: Buffer): Buffer {
        if (!flushed && !ended) visitAll(framer.push(chunk), ignore);
        return chunk;
      },
      flush(): Buffer {
        if (!flushed && !ended) {
          const last = framer.end();
          if (last !== undefined) visitLast(last);
        }
        flushed = true;
        return EMPTY;
      },
      result,
      isComplete,
    };
  }

  return {
    push(chunk: Buffer): Buffer {
      if (flushed || ended) return chunk;
      const heldBefore = framer.pendingBytes;
      const kept: Buffer[] = [];
      const dropped = visitAll(framer.push(chunk), (raw) => kept.push(raw));
      // Nothing held before or after and nothing dropped: the frames are exactly this chunk.
      if (!dropped && heldBefore === 0 && framer.pendingBytes === 0) return chunk;
      if (kept.length === 0) return EMPTY;
      return kept.length === 1 && kept[0] !== undefined ? kept[0] : Buffer.concat(kept);
    },
    flush(): Buffer {
      if (flushed || ended) {
        flushed = true;
        return EMPTY;
      }
      flushed = true;
      const last = framer.end();
      if (last === undefined || visitLast(last) === 'drop') return EMPTY;
      return last.raw;
    },
    result,
    isComplete,
  };
}
