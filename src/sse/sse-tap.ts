import type { StreamResult, StreamTap, StreamTapOptions } from '../providers/types.js';
import { createSseFramer, type SseEvent, type SseFrame } from './sse-framer.js';

/** What to do with one event: forward it to the client, or drop it. */
export type SseVerdict = 'keep' | 'drop';

/** The provider-specific part of an SSE stream tap. */
export interface SseEventHandler {
  /**
   * Reads one event that carries data, in stream order, and says whether to forward it. The
   * verdict only matters when the tap strips; the trailing event of a stream cut short arrives
   * here from `flush()` with `complete: false`.
   */
  onEvent(event: SseEvent): SseVerdict;
  /**
   * The result so far. `trailing` is the event still held back (incomplete), to be read
   * without being consumed: a later push may complete it and hand it to `onEvent`.
   */
  result(trailing: SseEvent | undefined): StreamResult;
  /** Whether an event seen so far marked the documented end of the stream (optional). */
  isComplete?(): boolean;
}

export interface SseTapOptions extends StreamTapOptions {
  /** Largest event, in bytes, the framer buffers (default 1 MiB). */
  maxEventSize?: number;
}

const EMPTY = Buffer.alloc(0);

/**
 * Builds a StreamTap around an SSE framer and a per-event handler.
 *
 * Without stripping, `push` returns the very Buffer it was given: parsing costs no copy and
 * never holds a byte back. With stripping, only complete events are forwarded (the bytes of an
 * event in progress are held until its blank line arrives or `flush()`), minus those the
 * handler drops; every other byte is forwarded unchanged and in order. Once the framer
 * overflows (an event over the maximum size), everything is forwarded unparsed.
 *
 * @example
 * const tap = createSseTap({ onEvent: (e) => (e.data === 'x' ? 'drop' : 'keep'), result }, { stripUsageChunk: true });
 * socket.write(tap.push(chunk));
 */
export function createSseTap(handler: SseEventHandler, options: SseTapOptions): StreamTap {
  const framer = createSseFramer(
    options.maxEventSize === undefined ? {} : { maxEventSize: options.maxEventSize },
  );
  let flushed = false;

  const visit = (frame: SseFrame): SseVerdict =>
    frame.kind === 'event' && frame.hasData ? handler.onEvent(frame) : 'keep';

  const isComplete = (): boolean => handler.isComplete?.() ?? false;

  const result = (): StreamResult => {
    if (flushed) return handler.result(undefined);
    const trailing = framer.peek();
    return handler.result(trailing?.hasData === true ? trailing : undefined);
  };

  if (!options.stripUsageChunk) {
    return {
      push(chunk: Buffer): Buffer {
        if (!flushed) for (const frame of framer.push(chunk)) visit(frame);
        return chunk;
      },
      flush(): Buffer {
        if (!flushed) {
          flushed = true;
          const last = framer.end();
          if (last !== undefined) visit(last);
        }
        return EMPTY;
      },
      result,
      isComplete,
    };
  }

  return {
    push(chunk: Buffer): Buffer {
      if (flushed) return chunk;
      const heldBefore = framer.pendingBytes;
      const kept: Buffer[] = [];
      let dropped = false;
      for (const frame of framer.push(chunk)) {
        if (visit(frame) === 'drop') dropped = true;
        else kept.push(frame.raw);
      }
      // Nothing held before or after and nothing dropped: the frames are exactly this chunk.
      if (!dropped && heldBefore === 0 && framer.pendingBytes === 0) return chunk;
      if (kept.length === 0) return EMPTY;
      return kept.length === 1 && kept[0] !== undefined ? kept[0] : Buffer.concat(kept);
    },
    flush(): Buffer {
      if (flushed) return EMPTY;
      flushed = true;
      const last = framer.end();
      if (last === undefined || visit(last) === 'drop') return EMPTY;
      return last.raw;
    },
    result,
    isComplete,
  };
}
