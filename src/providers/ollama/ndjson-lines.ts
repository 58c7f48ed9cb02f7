import { DEFAULT_MAX_EVENT_BYTES } from '../../sse/sse-framer.js';

/**
 * Incremental splitting of a newline-delimited JSON stream (NDJSON, https://github.com/ndjson/ndjson-spec)
 * into lines. Each byte is looked at once (`indexOf` of LF): a line that spans chunks is kept
 * as its pieces and joined once when its LF arrives, never re-scanned. LF is ASCII and never
 * occurs inside a multi-byte UTF-8 character, so a split anywhere is safe; a CR before the LF
 * is dropped with it.
 */

const LF = 0x0a;
const CR = 0x0d;

/** A line splitter; it never throws. */
export interface LineSplitter {
  /** Hands each complete line of `chunk` to `visit` (`undefined` for a line over the maximum). */
  push(chunk: Buffer, visit: (line: Buffer | undefined) => void): void;
  /** The bytes of the unfinished last line (stream cut or no final LF), or undefined; once. */
  end(): Buffer | undefined;
}

/** Creates a splitter keeping at most `maxLineBytes` (default 64 MiB) of one line. */
export function createLineSplitter(maxLineBytes = DEFAULT_MAX_EVENT_BYTES): LineSplitter {
  let parts: Buffer[] = [];
  let size = 0;
  let oversized = false;

  const take = (piece: Buffer): void => {
    if (oversized || piece.length === 0) return;
    if (size + piece.length > maxLineBytes) {
      // Too large to read: let its bytes go and skip to its end.
      oversized = true;
      parts = [];
      size = 0;
      return;
    }
    parts.push(piece);
    size += piece.length;
  };

  const complete = (): Buffer | undefined => {
    if (oversized) return undefined;
    const line = parts.length === 1 && parts[0] !== undefined ? parts[0] : Buffer.concat(parts);
    return line.length > 0 && line[line.length - 1] === CR ? line.subarray(0, -1) : line;
  };

  const reset = (): void => {
    parts = [];
    size = 0;
    oversized = false;
  };

  return {
    push(chunk, visit) {
      let from = 0;
      let lf = chunk.indexOf(LF);
      while (lf !== -1) {
        take(chunk.subarray(from, lf));
        // The LF itself does not count against the bound.
        visit(complete());
        reset();
        from = lf + 1;
        lf = chunk.indexOf(LF, from);
      }
      if (from < chunk.length) take(chunk.subarray(from));
    },
    end() {
      if (size === 0 && !oversized) return undefined;
      const line = complete();
      reset();
      return line;
    },
  };
}
