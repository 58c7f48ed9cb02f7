/**
 * Byte-level reading of JSON text that JSON.parse has already accepted: where values and members
 * start and end, without building them and without recursion (a body nested 100 000 levels deep
 * is walked with a counter, not the call stack). Every structural character of JSON is ASCII,
 * and UTF-8 never uses an ASCII byte inside a multi-byte character, so scanning bytes is exact.
 */

/** The bytes of JSON's structural characters (all ASCII), shared by every byte-level scanner. */
export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const COMMA = 0x2c;
export const COLON = 0x3a;
export const OPEN_BRACE = 0x7b;
export const CLOSE_BRACE = 0x7d;
export const OPEN_BRACKET = 0x5b;
export const CLOSE_BRACKET = 0x5d;

/** JSON insignificant whitespace: space, tab, LF, CR. */
export function isJsonWhitespace(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

/** The index of the first non-whitespace byte at or after `at` (or the length). */
export function skipWhitespace(bytes: Buffer, at: number): number {
  let i = at;
  while (i < bytes.length && isJsonWhitespace(bytes[i])) i += 1;
  return i;
}

/**
 * The index just past the closing quote of the string whose opening quote is at `at`. A quote
 * preceded by an odd number of backslashes is escaped. The search for quotes is native
 * (`Buffer.indexOf`), so long strings cost little.
 */
export function skipString(bytes: Buffer, at: number): number {
  let from = at + 1;
  for (;;) {
    const quote = bytes.indexOf(QUOTE, from);
    if (quote === -1) return bytes.length;
    let backslashes = 0;
    while (bytes[quote - 1 - backslashes] === BACKSLASH) backslashes += 1;
    if (backslashes % 2 === 0) return quote + 1;
    from = quote + 1;
  }
}

/** The index just past the value that starts at `at` (a string, container, number or literal). */
export function skipValue(bytes: Buffer, at: number): number {
  const first = bytes[at];
  if (first === QUOTE) return skipString(bytes, at);
  if (first !== OPEN_BRACE && first !== OPEN_BRACKET) {
    let i = at;
    while (i < bytes.length) {
      const byte = bytes[i];
      if (byte === COMMA || byte === CLOSE_BRACE || byte === CLOSE_BRACKET || isJsonWhitespace(byte)) break;
      i += 1;
    }
    return i;
  }
  // A container: a depth counter instead of recursion; strings are skipped whole so that their
  // brackets do not count.
  let depth = 0;
  let i = at;
  while (i < bytes.length) {
    const byte = bytes[i];
    if (byte === QUOTE) {
      i = skipString(bytes, i);
      continue;
    }
    if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth += 1;
    else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      depth -= 1;
      if (depth === 0) return i + 1;
    }
    i += 1;
  }
  return bytes.length;
}

/** One member of an object, as byte offsets into the text. */
export interface MemberSpan {
  /** The key, as JSON.parse reads it (escapes decoded). */
  key: string;
  /** Offset of the key's opening quote. */
  keyStart: number;
  /** Offset of the value's first byte. */
  valueStart: number;
  /** Offset just past the value's last byte. */
  valueEnd: number;
}

/** The members of the object whose `{` is at `open`, in order, and the offset of its `}`. */
export interface ObjectSpan {
  members: MemberSpan[];
  close: number;
}

/**
 * Reads the members of the object whose opening brace is at `open`. Keys with escapes are decoded
 * by JSON.parse itself, so `"stream\u005foptions"` is the same key here as in the parsed body.
 * Returns undefined when the bytes are not a well-formed object (cannot happen for text that
 * JSON.parse accepted; callers then leave the body alone).
 */
export function readObjectMembers(bytes: Buffer, open: number): ObjectSpan | undefined {
  if (bytes[open] !== OPEN_BRACE) return undefined;
  const members: MemberSpan[] = [];
  let i = skipWhitespace(bytes, open + 1);
  if (bytes[i] === CLOSE_BRACE) return { members, close: i };
  for (;;) {
    if (bytes[i] !== QUOTE) return undefined;
    const keyStart = i;
    const keyEnd = skipString(bytes, i);
    const key = decodeKey(bytes, keyStart, keyEnd);
    if (key === undefined) return undefined;
    i = skipWhitespace(bytes, keyEnd);
    if (bytes[i] !== COLON) return undefined;
    const valueStart = skipWhitespace(bytes, i + 1);
    const valueEnd = skipValue(bytes, valueStart);
    if (valueEnd <= valueStart || valueEnd > bytes.length) return undefined;
    members.push({ key, keyStart, valueStart, valueEnd });
    i = skipWhitespace(bytes, valueEnd);
    if (bytes[i] === CLOSE_BRACE) return { members, close: i };
    if (bytes[i] !== COMMA) return undefined;
    i = skipWhitespace(bytes, i + 1);
  }
}

/** A key's text: the bytes as they are, or JSON.parse's reading when it holds an escape. */
function decodeKey(bytes: Buffer, start: number, end: number): string | undefined {
  const inner = bytes.subarray(start + 1, end - 1);
  if (!inner.includes(BACKSLASH)) return inner.toString('utf8');
  try {
    const key: unknown = JSON.parse(bytes.toString('utf8', start, end));
    return typeof key === 'string' ? key : undefined;
  } catch {
    return undefined;
  }
}

/** The last member named `key` (JSON.parse, and most backends, keep the last of duplicates). */
export function lastMember(object: ObjectSpan, key: string): MemberSpan | undefined {
  for (let i = object.members.length - 1; i >= 0; i -= 1) {
    const member = object.members[i];
    if (member?.key === key) return member;
  }
  return undefined;
}
