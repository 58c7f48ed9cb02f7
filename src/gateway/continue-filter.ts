/**
 * Removes unsolicited `100 Continue` heads from the start of an HTTP/1.x response, byte for byte,
 * before undici's parser sees them.
 *
 * Why: undici 7 destroys the connection on any 100 it did not ask for (`client-h1.js`,
 * `onHeadersComplete`), before a dispatch handler sees it, so the final answer that follows
 * would be lost. The gateway never sends `Expect: 100-continue` upstream; RFC 9110 §15.2 says a
 * client must be able to parse 1xx answers and a user agent MAY ignore unexpected ones.
 *
 * Where it looks: only at the start of a response, i.e. at the bytes that arrive after a request
 * was written ({@link ContinueFilter.requestWritten}) and before the first byte of a head that is
 * not informational. It walks over other 1xx heads (103, 102, …: passed on unchanged, undici
 * hands them to the relay) and removes whole, well-formed `HTTP/1.0|1.1 100` heads. Once a final
 * (or unrecognised) head starts, every byte passes untouched until the next request is written,
 * so nothing inside a response body is ever examined. Anything it does not recognise exactly
 * (a bare CR or LF, a 100 head longer than {@link MAX_CONTINUE_HEAD_BYTES}, more than
 * {@link MAX_CONTINUES_REMOVED} of them) is passed on as it came, and undici judges it as before.
 *
 * Cost: one comparison per read while a response body flows; the first read of a response
 * compares at most 13 bytes of its status line.
 */

/** Longest `100` head removed; a longer one is passed on (undici then closes the connection). */
export const MAX_CONTINUE_HEAD_BYTES = 1024;

/**
 * 100 heads removed before one final answer; beyond it the backend is failing and the next one
 * is passed on (as the relay refuses more than 32 other informational answers).
 */
export const MAX_CONTINUES_REMOVED = 32;

/** Bytes of `HTTP/1.x NNN` plus the one after (space or CR) that tell a status line's class. */
const STATUS_PREFIX_BYTES = 13;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const DIGIT_0 = 0x30;
const DIGIT_1 = 0x31;
const DIGIT_9 = 0x39;
const HTTP_1_DOT = Buffer.from('HTTP/1.', 'latin1');
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/** A whole 100 head: status line, header fields, empty line; CRLF line ends only. */
const CONTINUE_HEAD =
  /^HTTP\/1\.[01] 100(?: [\t\x20-\x7e\x80-\xff]*)?\r\n(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*\r\n$/;

/** Where the filter stands in the bytes of the current response. */
const PASS = 0; // inside a final answer (or before any request): bytes go through untouched
const HEAD_START = 1; // at the first byte of a head, which may be informational
const CONTINUE_HEAD_BYTES = 2; // inside a 100 head, held until it is whole
const OTHER_INFORMATIONAL = 3; // inside another 1xx head, passed on while its end is looked for
type State = typeof PASS | typeof HEAD_START | typeof CONTINUE_HEAD_BYTES | typeof OTHER_INFORMATIONAL;

/** What a status line's first bytes say. */
const NEED_MORE = 0;
const IS_CONTINUE = 1;
const IS_OTHER_INFORMATIONAL = 2;
const IS_FINAL = 3;
type StatusClass = typeof NEED_MORE | typeof IS_CONTINUE | typeof IS_OTHER_INFORMATIONAL | typeof IS_FINAL;

/** Where another 1xx head ends, when not at an offset. */
const INSIDE = -1; // the data ended inside it
const UNCERTAIN = -2; // its line ends are not all CRLF

/** Where a 100 head ends, when not at an offset. */
const NOT_YET = -1; // not whole yet, and it may still be
const NOT_A_CONTINUE_HEAD = -2; // malformed or too long

/**
 * The filter of one connection. Every byte read from the connection goes through
 * {@link filter} exactly once, in order; what it returns goes on to the HTTP parser. Bytes held
 * back are at most {@link MAX_CONTINUE_HEAD_BYTES}, and only while a response has not started.
 */
export class ContinueFilter {
  #state: State = PASS;
  /** Bytes of a head not yet whole (a status line's start, or a 100 head), copied. */
  #held: Buffer | undefined;
  /** 100 heads removed since the request was written. */
  #removed = 0;
  /** Inside another 1xx head: the previous byte, and whether the current line has content. */
  #previous = 0;
  #lineHasContent = false;

  /**
   * A request was written: the next byte read starts its response. Only from the passing state
   * (with pipelining 1, a request is written only once the previous answer has ended); a
   * response already being looked at is left as it is.
   */
  requestWritten(): void {
    if (this.#state !== PASS) return;
    this.#state = HEAD_START;
    this.#removed = 0;
  }

  /** The bytes of `chunk` (and of what was held) that go on now; `undefined` for none. */
  filter(chunk: Buffer): Buffer | undefined {
    if (this.#state === PASS) return chunk;
    return this.#examine(chunk);
  }

  /** The connection ended: whatever is held goes on as it came (the parser judges it). */
  flush(): Buffer | undefined {
    const held = this.#held;
    this.#held = undefined;
    this.#state = PASS;
    return held;
  }

  #examine(chunk: Buffer): Buffer | undefined {
    const data = this.#held === undefined ? chunk : Buffer.concat([this.#held, chunk]);
    this.#held = undefined;
    const out: Buffer[] = [];
    /** Start of the bytes that go on and have not been emitted yet. */
    let from = 0;
    let at = 0;
    for (;;) {
      if (this.#state === HEAD_START) {
        const kind = classifyStatusLine(data, at);
        if (kind === NEED_MORE) {
          this.#hold(data, at);
          break;
        }
        if (kind === IS_FINAL || (kind === IS_CONTINUE && this.#removed >= MAX_CONTINUES_REMOVED)) {
          this.#state = PASS;
          at = data.length;
          break;
        }
        if (kind === IS_OTHER_INFORMATIONAL) {
          this.#state = OTHER_INFORMATIONAL;
          this.#previous = 0;
          this.#lineHasContent = false;
          continue;
        }
        this.#state = CONTINUE_HEAD_BYTES;
        if (at > from) out.push(data.subarray(from, at));
        from = at;
      }
      if (this.#state === CONTINUE_HEAD_BYTES) {
        const end = continueHeadEnd(data, at);
        if (end === NOT_YET) {
          this.#hold(data, at);
          break;
        }
        if (end === NOT_A_CONTINUE_HEAD) {
          // Passed on as it came: undici refuses it, as it would have without the filter.
          this.#state = PASS;
          at = data.length;
          break;
        }
        this.#removed += 1;
        this.#state = HEAD_START;
        at = end;
        from = at;
        continue;
      }
      // OTHER_INFORMATIONAL: its bytes go on; the next head starts after its empty line.
      const next = this.#skipInformationalHead(data, at);
      at = data.length;
      if (next === UNCERTAIN) this.#state = PASS;
      if (next < 0) break;
      this.#state = HEAD_START;
      at = next;
    }
    if (at > from) out.push(data.subarray(from, at));
    if (out.length === 0) return undefined;
    if (out.length === 1 && out[0] !== undefined) return out[0];
    return Buffer.concat(out);
  }

  /** Holds `data` from `at` (a copy: the rest of the read is not kept alive). */
  #hold(data: Buffer, at: number): void {
    if (at < data.length) this.#held = Buffer.from(data.subarray(at));
  }

  /**
   * Walks an informational head (not 100) from `at`, byte by byte: it is short and only seen
   * before a response starts. Returns where the next head starts once the empty line is found,
   * {@link INSIDE} when the data ends first, or {@link UNCERTAIN} for a CR not followed by LF or
   * an LF without CR: where such a head ends is not certain, so the filter stops looking.
   */
  #skipInformationalHead(data: Buffer, at: number): number {
    let previous = this.#previous;
    let lineHasContent = this.#lineHasContent;
    for (let i = at; i < data.length; i++) {
      const byte = data[i] ?? 0;
      if (previous === CR && byte !== LF) return UNCERTAIN;
      if (byte === LF) {
        if (previous !== CR) return UNCERTAIN;
        if (!lineHasContent) return i + 1;
        lineHasContent = false;
      } else if (byte !== CR) lineHasContent = true;
      previous = byte;
    }
    this.#previous = previous;
    this.#lineHasContent = lineHasContent;
    return INSIDE;
  }
}

/**
 * Classifies the status line starting at `at` from its first bytes: `HTTP/1.0` or `HTTP/1.1`,
 * then `100` and a space or CR, is a 100; another `1NN` (but 101, a protocol switch) is
 * informational; anything else, including what is not a status line at all, is final for the
 * filter.
 */
function classifyStatusLine(data: Buffer, at: number): StatusClass {
  const available = Math.min(data.length - at, STATUS_PREFIX_BYTES);
  for (let i = 0; i < available; i++) {
    const byte = data[at + i] ?? 0;
    if (i < HTTP_1_DOT.length) {
      if (byte !== HTTP_1_DOT[i]) return IS_FINAL;
    } else if (i === 7) {
      if (byte !== DIGIT_0 && byte !== DIGIT_1) return IS_FINAL;
    } else if (i === 10 || i === 11) {
      if (byte < DIGIT_0 || byte > DIGIT_9) return IS_FINAL;
    } else if (i === 8) {
      if (byte !== SP) return IS_FINAL;
    } else if (i === 9) {
      if (byte !== DIGIT_1) return IS_FINAL;
    } else if (i === 12) {
      if (byte !== SP && byte !== CR) return IS_FINAL;
    }
    if (i === 11) {
      const code = (data[at + 10] ?? 0) - DIGIT_0;
      const unit = byte - DIGIT_0;
      if (code === 0 && unit === 1) return IS_FINAL; // 101: a protocol switch, never skipped
    }
  }
  if (available < STATUS_PREFIX_BYTES) return NEED_MORE;
  const isContinue = data[at + 10] === DIGIT_0 && data[at + 11] === DIGIT_0;
  return isContinue ? IS_CONTINUE : IS_OTHER_INFORMATIONAL;
}

/**
 * The offset just after the 100 head that starts at `at`, once it is whole and well formed;
 * {@link NOT_YET} while it may still become one within {@link MAX_CONTINUE_HEAD_BYTES};
 * {@link NOT_A_CONTINUE_HEAD} otherwise.
 */
function continueHeadEnd(data: Buffer, at: number): number {
  const limit = Math.min(data.length, at + MAX_CONTINUE_HEAD_BYTES);
  const end = data.subarray(0, limit).indexOf(HEAD_END, at);
  if (end === -1) return limit - at >= MAX_CONTINUE_HEAD_BYTES ? NOT_A_CONTINUE_HEAD : NOT_YET;
  const after = end + HEAD_END.length;
  return CONTINUE_HEAD.test(data.toString('latin1', at, after)) ? after : NOT_A_CONTINUE_HEAD;
}
