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
 * copied when a line or an event spans several chunks.
 */

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Default largest event the framer buffers before giving up: 1 MiB. */
export const DEFAULT_MAX_EVENT_SIZE = 1024 * 1024;

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

/** Bytes not parsed (the oversized event and all after it, or pushes after end): forward them. */
export interface SseSkipped {
  readonly kind: 'skipped';
  raw: Buffer;
}

export type SseFrame = SseEvent | SseSkipped;

export interface SseFramerOptions {
  /** Largest event, in bytes, before the framer reports overflow and stops parsing. */
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
  /** True once an event exceeded the maximum size; from then on nothing is parsed. */
  readonly overflowed: boolean;
  /** Bytes held back: the event in progress. */
  readonly pendingBytes: number;
}

/** The fields of the event in progress; `data` is undefined until its first data field. */
interface Fields {
  event: string;
  data: string | undefined;
  id: string | undefined;
}

const newFields = (): Fields => ({ event: '', data: undefined, id: undefined });

/** Creates an SSE framer. */
export function createSseFramer(options: SseFramerOptions = {}): SseFramer {
  return new ByteSseFramer(options.maxEventSize ?? DEFAULT_MAX_EVENT_SIZE);
}

class ByteSseFramer implements SseFramer {
  overflowed = false;
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

  constructor(private readonly maxEventSize: number) {}

  get pendingBytes(): number {
    return this.frameSize;
  }

  push(chunk: Buffer): SseFrame[] {
    if (chunk.length === 0) return [];
    if (this.overflowed || this.ended) return [{ kind: 'skipped', raw: chunk }];
    const out: SseFrame[] = [];
    let pos = this.bomMatched >= 0 && this.bomMatched < 3 ? this.skipBom(chunk) : 0;
    let frameStart = 0;
    if (pos < chunk.length && this.awaitingLf) {
      if (chunk[pos] === LF) pos += 1;
      this.awaitingLf = false;
      out.push(this.emitEvent(chunk.subarray(0, pos)));
      frameStart = pos;
    } else if (pos < chunk.length && this.crPending) {
      if (chunk[pos] === LF) pos += 1;
    }
    if (pos < chunk.length) this.crPending = false;
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
      let next = eol + 1;
      let crAtChunkEnd = false;
      if (chunk[eol] === CR) {
        if (next < chunk.length) {
          if (chunk[next] === LF) next += 1;
        } else {
          crAtChunkEnd = true;
        }
      }
      if (this.frameSize + (next - frameStart) > this.maxEventSize) {
        return this.overflow(out, chunk.subarray(frameStart));
      }
      if (this.lineSize === 0 && eol === pos) {
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
      if (this.frameSize > this.maxEventSize) return this.overflow(out, undefined);
    }
    return out;
  }

  peek(): SseEvent | undefined {
    if (this.overflowed || this.ended || this.frameSize === 0) return undefined;
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
  private skipBom(chunk: Buffer): number {
    let i = 0;
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

  private overflow(out: SseFrame[], tail: Buffer | undefined): SseFrame[] {
    if (tail !== undefined) this.frameParts.push(tail);
    out.push({ kind: 'skipped', raw: concat(this.frameParts) });
    this.overflowed = true;
    this.reset();
    return out;
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
