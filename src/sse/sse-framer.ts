/**
 * A byte-level, incremental server-sent events framer (WHATWG HTML, "Parsing an event stream":
 * https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream).
 *
 * Unlike a plain SSE parser it keeps the exact bytes of every event, terminating blank line
 * included, so a caller can drop one event and forward every other byte unchanged. Every input
 * byte ends up in exactly one emitted frame, in order: the concatenation of all `raw` spans
 * (from `push` and `end`) equals the input.
 *
 * Work is linear in the input: chunks are scanned once from a moving offset, and bytes are only
 * copied when a line or an event spans several chunks. Memory is bounded by the maximum event
 * size: a larger event is handed back as it passes, and framing resumes after it.
 */

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Default largest event the framer buffers: 64 MiB, the default of `gateway.maxEventBytes`. */
export const DEFAULT_MAX_EVENT_BYTES = 64 * 1024 * 1024;

/** One event: a block of lines ended by a blank line. */
export interface SseEvent {
  readonly kind: 'event';
  /** The exact bytes of the event, its terminating blank line included. */
  raw: Buffer;
  /** The event type: the last `event` field, or `message` when it is absent or empty. */
  event: string;
  /** The `data` fields joined with `\n` (empty when there is none). */
  data: string;
  /** This event's own `id` field, like eventsource-parser (ids holding NUL are ignored). */
  id?: string;
  /**
   * Whether the event has at least one `data` field. The spec dispatches only such events;
   * comment-only keep-alives and stray blank lines come out with `hasData: false`.
   */
  hasData: boolean;
  /** False for the trailing event `end()` returns when the stream stopped before its blank line. */
  complete: boolean;
}

/**
 * Bytes of an event larger than the maximum size, handed back unparsed as they pass (the bytes
 * buffered before the event went over the maximum first, then each chunk's share as it
 * arrives). `first` marks the first span of each such event. The framer goes on parsing after
 * the blank line that ends it.
 */
export interface SseOversized {
  readonly kind: 'oversized';
  raw: Buffer;
  first: boolean;
}

/** Bytes pushed after `end()`: not parsed, to forward as they are. */
export interface SseSkipped {
  readonly kind: 'skipped';
  raw: Buffer;
}

export type SseFrame = SseEvent | SseOversized | SseSkipped;

export interface SseFramerOptions {
  /** Largest event, in bytes, that is buffered and parsed (default DEFAULT_MAX_EVENT_BYTES). */
  maxEventSize?: number;
}

/** An incremental framer; it never throws on any input. */
export interface SseFramer {
  /** Feeds the next bytes; returns the frames they complete, in stream order. */
  push(chunk: Buffer): SseFrame[];
  /**
   * Ends the stream: returns the held-back trailing event, if any bytes are held. It is
   * `complete: false` when no blank line ended it (the spec discards such an event; usage
   * readers may still want it — its last partial line is parsed as if it were terminated).
   * Later pushes come back as `skipped` frames.
   */
  end(): SseEvent | undefined;
  /** What `end()` would return now, without ending anything. */
  peek(): SseEvent | undefined;
  /** How many events were larger than the maximum size (handed back as `oversized` spans). */
  readonly oversizedEvents: number;
  /** Bytes held back: the event in progress (never more than the maximum size). */
  readonly pendingBytes: number;
}

/** The fields of the event in progress; `data` is undefined until its first data field. */
interface Fields {
  event: string;
  data: string | undefined;
  id: string | undefined;
}

const newFields = (): Fields => ({ event: '', data: undefined, id: undefined });

/**
 * Creates an SSE framer. An event larger than `maxEventSize` is never buffered whole: once it
 * goes over, its bytes are handed back as `oversized` spans as they pass, the framer looks only
 * for the blank line that ends it (a line break right after another, CR / LF / CRLF, split
 * anywhere), and parses the events after it as usual. Memory held is at most one event of the
 * maximum size.
 */
export function createSseFramer(options: SseFramerOptions = {}): SseFramer {
  return new ByteSseFramer(options.maxEventSize ?? DEFAULT_MAX_EVENT_BYTES);
}

class ByteSseFramer implements SseFramer {
  oversizedEvents = 0;
  private ended = false;
  /** Bytes of the event in progress (views into the pushed chunks). */
  private frameParts: Buffer[] = [];
  private frameSize = 0;
  /** Bytes of the line in progress, without its terminator. */
  private lineParts: Buffer[] = [];
  private lineSize = 0;
  private fields = newFields();
  /** The last byte seen was a CR ending a line: an LF right after it belongs to the same break. */
  private crPending = false;
  /** A blank line ended by CR closed the event; it is emitted once we know whether an LF follows. */
  private awaitingLf = false;
  /** How many bytes of a leading UTF-8 BOM were matched; 3 or -1 once settled. */
  private bomMatched = 0;
  /** Inside an oversized event: its bytes are handed back unparsed until its blank line. */
  private skipping = false;
  /** While skipping: no byte of the current line seen yet (a line break now ends the event). */
  private skipLineEmpty = false;
  /** While skipping: the last byte was a CR ending a line (an LF next is the same break). */
  private skipCr = false;
  /** An oversized event ended with a CR at a chunk's end: an LF next is still its own. */
  private lfOfOversized = false;

  constructor(private readonly maxEventSize: number) {}

  get pendingBytes(): number {
    return this.frameSize;
  }

  push(chunk: Buffer): SseFrame[] {
    if (chunk.length === 0) return [];
    if (this.ended) return [{ kind: 'skipped', raw: chunk }];
    const out: SseFrame[] = [];
    let pos = 0;
    if (this.lfOfOversized) {
      this.lfOfOversized = false;
      if (chunk[0] === LF) {
        out.push({ kind: 'oversized', raw: chunk.subarray(0, 1), first: false });
        pos = 1;
      }
    }
    // Each pass goes to the end of the chunk, or to where an oversized event starts or ends.
    while (pos < chunk.length) pos = this.skipping ? this.skip(chunk, pos, out) : this.frame(chunk, pos, out);
    return out;
  }

  /** Frames events from `start`; returns the chunk's length, or where skipping starts or ends. */
  private frame(chunk: Buffer, start: number, out: SseFrame[]): number {
    let pos = this.bomMatched >= 0 && this.bomMatched < 3 ? this.skipBom(chunk, start) : start;
    let frameStart = start;
    if (pos < chunk.length && this.awaitingLf) {
      if (chunk[pos] === LF) pos += 1;
      this.awaitingLf = false;
      out.push(this.emitEvent(chunk.subarray(start, pos)));
      frameStart = pos;
    } else if (pos < chunk.length && this.crPending) {
      this.crPending = false;
      if (chunk[pos] === LF) pos += 1;
    }
    let nextLf = chunk.indexOf(LF, pos);
    let nextCr = chunk.indexOf(CR, pos);
    while (pos < chunk.length) {
      // Re-search only once the scan passed the cached hit: each byte is looked at once.
      if (nextLf !== -1 && nextLf < pos) nextLf = chunk.indexOf(LF, pos);
      if (nextCr !== -1 && nextCr < pos) nextCr = chunk.indexOf(CR, pos);
      const eol = nextLf === -1 ? nextCr : nextCr === -1 ? nextLf : Math.min(nextLf, nextCr);
      if (eol === -1) {
        this.lineParts.push(chunk.subarray(pos));
        this.lineSize += chunk.length - pos;
        break;
      }
      const next = lineBreakEnd(chunk, eol);
      // A CR that ends the chunk may be the first half of a CRLF split across chunks.
      const crAtChunkEnd = chunk[eol] === CR && eol + 1 === chunk.length;
      const blank = this.lineSize === 0 && eol === pos;
      if (this.frameSize + (next - frameStart) > this.maxEventSize) {
        this.oversize(out, chunk.subarray(frameStart, next));
        if (blank) {
          // The oversized event ends with this very line: go on framing after it.
          this.lfOfOversized = crAtChunkEnd;
        } else {
          this.skipping = true;
          this.skipLineEmpty = true;
          this.skipCr = crAtChunkEnd;
        }
        return next;
      }
      if (blank) {
        if (crAtChunkEnd) {
          // The blank line may be a CRLF split across chunks: wait for the next byte.
          this.awaitingLf = true;
          pos = next;
          break;
        }
        out.push(this.emitEvent(chunk.subarray(frameStart, next)));
        frameStart = next;
      } else {
        if (this.lineSize === 0) {
          parseLine(chunk, pos, eol, this.fields);
        } else {
          const line = this.takeLine(chunk.subarray(pos, eol));
          parseLine(line, 0, line.length, this.fields);
        }
        this.crPending = crAtChunkEnd;
      }
      pos = next;
    }
    if (frameStart < chunk.length) {
      this.frameParts.push(chunk.subarray(frameStart));
      this.frameSize += chunk.length - frameStart;
      if (this.frameSize > this.maxEventSize) {
        // Every line end was checked above: what went over is a line still in progress.
        this.oversize(out, undefined);
        this.skipping = true;
        this.skipLineEmpty = false;
        this.skipCr = false;
      }
    }
    return chunk.length;
  }

  /**
   * Hands back the bytes of an oversized event from `start` up to the blank line that ends it
   * (then framing resumes there) or the end of the chunk. Only line breaks are looked at.
   */
  private skip(chunk: Buffer, start: number, out: SseFrame[]): number {
    let pos = start;
    let nextLf = chunk.indexOf(LF, pos);
    let nextCr = chunk.indexOf(CR, pos);
    while (pos < chunk.length) {
      if (this.skipCr) {
        this.skipCr = false;
        if (chunk[pos] === LF) {
          pos += 1;
          continue;
        }
      }
      if (nextLf !== -1 && nextLf < pos) nextLf = chunk.indexOf(LF, pos);
      if (nextCr !== -1 && nextCr < pos) nextCr = chunk.indexOf(CR, pos);
      const eol = nextLf === -1 ? nextCr : nextCr === -1 ? nextLf : Math.min(nextLf, nextCr);
      if (eol === -1) {
        this.skipLineEmpty = false;
        break;
      }
      const next = lineBreakEnd(chunk, eol);
      // A CR that ends the chunk may be the first half of a CRLF split across chunks.
      const crAtChunkEnd = chunk[eol] === CR && eol + 1 === chunk.length;
      if (this.skipLineEmpty && eol === pos) {
        out.push({ kind: 'oversized', raw: chunk.subarray(start, next), first: false });
        this.skipping = false;
        this.lfOfOversized = crAtChunkEnd;
        return next;
      }
      this.skipLineEmpty = true;
      this.skipCr = crAtChunkEnd;
      pos = next;
    }
    out.push({ kind: 'oversized', raw: chunk.subarray(start), first: false });
    return chunk.length;
  }

  /** Hands back the buffered bytes of an event that went over the maximum, without copying. */
  private oversize(out: SseFrame[], tail: Buffer | undefined): void {
    if (tail !== undefined && tail.length > 0) this.frameParts.push(tail);
    this.frameParts.forEach((raw, i) => out.push({ kind: 'oversized', raw, first: i === 0 }));
    this.oversizedEvents += 1;
    // A BOM can only open the stream: whatever was matched of it is settled now.
    if (this.bomMatched < 3) this.bomMatched = -1;
    this.reset();
  }

  peek(): SseEvent | undefined {
    if (this.ended || this.frameSize === 0) return undefined;
    const raw = concat(this.frameParts);
    if (this.awaitingLf) return buildEvent(this.fields, raw, true);
    const fields: Fields = { ...this.fields };
    if (this.lineSize > 0) {
      const line = concat(this.lineParts);
      parseLine(line, 0, line.length, fields);
    }
    return buildEvent(fields, raw, false);
  }

  end(): SseEvent | undefined {
    const last = this.peek();
    this.ended = true;
    this.reset();
    return last;
  }

  /**
   * Matches a leading BOM byte by byte (it may itself be split across chunks). Its bytes stay in
   * the event's raw span but are not line content; bytes that turn out not to be a BOM are.
   */
  private skipBom(chunk: Buffer, start: number): number {
    let i = start;
    while (this.bomMatched < 3 && i < chunk.length) {
      if (chunk[i] !== UTF8_BOM[this.bomMatched]) {
        if (this.bomMatched > 0) {
          this.lineParts.push(UTF8_BOM.subarray(0, this.bomMatched));
          this.lineSize += this.bomMatched;
        }
        this.bomMatched = -1;
        return i;
      }
      this.bomMatched += 1;
      i += 1;
    }
    return i;
  }

  private takeLine(tail: Buffer): Buffer {
    this.lineParts.push(tail);
    const line = concat(this.lineParts);
    this.lineParts = [];
    this.lineSize = 0;
    return line;
  }

  private emitEvent(tail: Buffer): SseEvent {
    if (tail.length > 0) this.frameParts.push(tail);
    const event = buildEvent(this.fields, concat(this.frameParts), true);
    this.reset(); // no line or CR is pending at an event's end
    return event;
  }

  private reset(): void {
    this.frameParts = [];
    this.frameSize = 0;
    this.lineParts = [];
    this.lineSize = 0;
    this.fields = newFields();
    this.crPending = false;
    this.awaitingLf = false;
  }
}

/** The index just past the line break at `eol` (CR, LF, or a CRLF within the chunk). */
function lineBreakEnd(chunk: Buffer, eol: number): number {
  return chunk[eol] === CR && chunk[eol + 1] === LF ? eol + 2 : eol + 1;
}

function concat(parts: Buffer[]): Buffer {
  if (parts.length === 1 && parts[0] !== undefined) return parts[0];
  return Buffer.concat(parts);
}

function buildEvent(fields: Fields, raw: Buffer, complete: boolean): SseEvent {
  const event: SseEvent = {
    kind: 'event',
    raw,
    event: fields.event === '' ? 'message' : fields.event,
    data: fields.data ?? '',
    hasData: fields.data !== undefined,
    complete,
  };
  if (fields.id !== undefined) event.id = fields.id;
  return event;
}

/** Interprets one line, `buf[start, end)` without its terminator, into `fields`. */
function parseLine(buf: Buffer, start: number, end: number, fields: Fields): void {
  if (start === end || buf[start] === COLON) return;
  // Only data (4 bytes), event (5) and id (2) matter to a meter (retry only matters to
  // reconnecting clients): look for the colon in the first 6 bytes at most, so a long line
  // without colon is never scanned; a longer name matches none of them.
  const limit = Math.min(end, start + 6);
  let nameEnd = start;
  while (nameEnd < limit && buf[nameEnd] !== COLON) nameEnd += 1;
  const field = fieldOf(buf, start, nameEnd - start);
  if (field === undefined) return;
  let valueStart = nameEnd === end ? end : nameEnd + 1;
  if (valueStart < end && buf[valueStart] === SPACE) valueStart += 1;
  const value = buf.toString('utf8', valueStart, end);
  if (field === 'data') fields.data = fields.data === undefined ? value : `${fields.data}\n${value}`;
  else if (field === 'event') fields.event = value;
  else if (!value.includes('\0')) fields.id = value;
}

function fieldOf(buf: Buffer, at: number, length: number): 'data' | 'event' | 'id' | undefined {
  const c0 = buf[at];
  if (length === 4 && c0 === 0x64 && buf[at + 1] === 0x61 && buf[at + 2] === 0x74 && buf[at + 3] === 0x61) {
    return 'data';
  }
  if (length === 5 && c0 === 0x65 && buf.toString('latin1', at, at + 5) === 'event') return 'event';
  if (length === 2 && c0 === 0x69 && buf[at + 1] === 0x64) return 'id';
  return undefined;
}
