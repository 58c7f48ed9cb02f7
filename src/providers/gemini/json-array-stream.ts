import type { StreamResult, StreamTap, StreamTapOptions } from '../types.js';
import { DEFAULT_MAX_EVENT_BYTES } from '../../sse/sse-framer.js';
import { usageKey } from '../../sse/sse-tap.js';
import { BACKSLASH, CLOSE_BRACE, CLOSE_BRACKET, OPEN_BRACE, OPEN_BRACKET, QUOTE } from '../json-bytes.js';
import { parseJson } from '../json.js';
import { createGeminiStreamState, readGeminiChunk } from './response.js';

/**
 * `streamGenerateContent` without `alt=sse` answers with one JSON array whose elements are
 * sent as they are generated: `[{…}\r\n,\r\n{…}]` with content type application/json
 * (https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent). A JSON
 * parser would wait for the closing `]`; this scanner finds each element as soon as its last
 * byte arrives.
 */

const EMPTY = Buffer.alloc(0);

/** An incremental scanner for a streamed JSON array of objects; it never throws. */
export interface JsonArrayScanner {
  /**
   * Feeds the next bytes; returns the exact bytes of every element they complete, in order.
   * Once the top-level value is closed, later bytes are not looked at.
   */
  push(chunk: Buffer): Buffer[];
  /**
   * Like push, but hands each element to `visit` in order, and `undefined` in place of each
   * element skipped for its size (so a caller knows what came before and after it).
   */
  scan(chunk: Buffer, visit: (element: Buffer | undefined) => void): void;
  /** True when the top-level value (the array, or a lone object such as an error body) is closed. */
  readonly closed: boolean;
  /** Elements skipped because they were larger than the maximum size. */
  readonly skipped: number;
}

export interface JsonArrayScannerOptions {
  /** Largest element, in bytes, that is buffered; larger ones are skipped (default 64 MiB). */
  maxElementSize?: number;
}

/**
 * Creates a scanner. The elements are the objects directly inside the top-level array; a
 * top-level object (an error answered instead of the array) is an element too. Each byte is
 * looked at once (string contents through `indexOf`): the scanner keeps string / escape state
 * and nesting depth across chunks, and only copies bytes when an element spans several chunks
 * (no re-scan of a growing buffer). Structural characters are ASCII and
 * never occur inside a multi-byte UTF-8 character, so splits anywhere are safe. Whitespace,
 * CRLF and commas between elements are skipped; a skipped oversized element does not stop the
 * scan, so later elements (with the latest cumulative usage) are still found.
 */
export function createJsonArrayScanner(options: JsonArrayScannerOptions = {}): JsonArrayScanner {
  const maxElementSize = options.maxElementSize ?? DEFAULT_MAX_EVENT_BYTES;
  let depth = 0;
  let inString = false;
  let escaped = false;
  /** The top-level value is an array: its direct object children are the elements. */
  let topIsArray = false;
  let started = false;
  /** The depth an element's `{` opened at, or -1 outside an element. */
  let elementDepth = -1;
  let parts: Buffer[] = [];
  let size = 0;
  let oversized = false;
  let skipped = 0;

  const take = (piece: Buffer): void => {
    if (oversized) return;
    if (size + piece.length > maxElementSize) {
      oversized = true;
      parts = [];
      size = 0;
      return;
    }
    parts.push(piece);
    size += piece.length;
  };

  const scanner: JsonArrayScanner = {
    get closed() {
      return started && depth === 0;
    },
    get skipped() {
      return skipped;
    },
    push(chunk) {
      const out: Buffer[] = [];
      scanner.scan(chunk, (element) => {
        if (element !== undefined) out.push(element);
      });
      return out;
    },
    scan(chunk, visit) {
      // The closing `]` is the documented end: what follows is not part of the answer.
      if (started && depth === 0) return;
      // Where the bytes of the element in progress start in this chunk.
      let from = elementDepth === -1 ? -1 : 0;
      // Inside strings (most of the bytes: text, base64 data) the scan jumps from one quote or
      // backslash to the next; the hits are cached and searched again only once passed.
      let nextQuote = chunk.indexOf(QUOTE);
      let nextBackslash = chunk.indexOf(BACKSLASH);
      let i = 0;
      while (i < chunk.length) {
        if (inString) {
          if (escaped) {
            escaped = false;
            i += 1;
            continue;
          }
          if (nextQuote !== -1 && nextQuote < i) nextQuote = chunk.indexOf(QUOTE, i);
          if (nextBackslash !== -1 && nextBackslash < i) nextBackslash = chunk.indexOf(BACKSLASH, i);
          if (nextBackslash !== -1 && (nextQuote === -1 || nextBackslash < nextQuote)) {
            escaped = true;
            i = nextBackslash + 1;
          } else if (nextQuote !== -1) {
            inString = false;
            i = nextQuote + 1;
          } else {
            break; // the string goes on in the next chunk
          }
          continue;
        }
        const byte = chunk[i];
        if (byte === QUOTE) {
          inString = true;
        } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
          if (depth === 0) {
            started = true;
            topIsArray = byte === OPEN_BRACKET;
          }
          if (byte === OPEN_BRACE && elementDepth === -1 && (depth === 0 || (depth === 1 && topIsArray))) {
            elementDepth = depth;
            from = i;
          }
          depth += 1;
        } else if ((byte === CLOSE_BRACE || byte === CLOSE_BRACKET) && depth > 0) {
          depth -= 1;
          if (depth === elementDepth) {
            take(chunk.subarray(from, i + 1));
            if (oversized) {
              skipped += 1;
              visit(undefined);
            } else {
              visit(parts.length === 1 && parts[0] !== undefined ? parts[0] : Buffer.concat(parts));
            }
            elementDepth = -1;
            from = -1;
            parts = [];
            size = 0;
            oversized = false;
          }
          if (depth === 0) break; // the top-level value is closed: the documented end
        }
        i += 1;
      }
      if (from !== -1) take(chunk.subarray(from));
    },
  };
  return scanner;
}

/**
 * A tap for the streamed JSON array: each element is parsed as it completes and the bytes go
 * on unchanged (`push` returns the very Buffer it was given). The closing `]` is the documented
 * end (`isComplete`): bytes after it are forwarded, never read. The stream is `completed` once
 * an element finished the answer and the array is closed. An element cut short by the end of
 * the stream cannot be parsed, so a truncated stream keeps the usage of its last whole element.
 * An element over `maxEventBytes` is skipped unread (`eventTooLarge`), the scan goes on.
 */
export function createGeminiJsonArrayTap(options: Omit<StreamTapOptions, 'stripUsageChunk'> = {}): StreamTap {
  const scanner = createJsonArrayScanner({
    maxElementSize: options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES,
  });
  const state = createGeminiStreamState();
  /** The usage read before the last element too large to read, as a comparable key. */
  let usageAtTooLarge: string | undefined;
  return {
    push(chunk) {
      scanner.scan(chunk, (element) => {
        if (element !== undefined) {
          state.apply(readGeminiChunk(parseJson(element.toString('utf8'))));
          return;
        }
        if (usageAtTooLarge === undefined) options.onEventTooLarge?.();
        usageAtTooLarge = usageKey(state.usage());
      });
      return chunk;
    },
    flush: () => EMPTY,
    result: (): StreamResult => {
      const out = state.result(undefined, scanner.closed);
      if (usageAtTooLarge !== undefined) {
        out.eventTooLarge = true;
        out.usageAfterTooLarge = usageKey(out.usage) !== usageAtTooLarge;
      }
      return out;
    },
    isComplete: () => scanner.closed,
  };
}
