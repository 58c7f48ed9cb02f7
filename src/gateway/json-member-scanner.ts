/**
 * An incremental scanner of a JSON answer's top-level object that keeps the small members and
 * skips the large ones, so that reading usage from a non-streamed answer holds a bounded amount
 * of memory whatever the answer's size (issue #7, class 15: a 300 MB answer took the gateway from
 * 150 MB to 1 GB RSS when the whole body was kept to be parsed at the end).
 */

import {
  BACKSLASH,
  CLOSE_BRACE,
  CLOSE_BRACKET,
  COLON,
  COMMA,
  isJsonWhitespace,
  OPEN_BRACE,
  OPEN_BRACKET,
  QUOTE,
} from '../providers/json-bytes.js';

const OPENING_QUOTE = Buffer.from('"');
const STRUCTURAL = [QUOTE, OPEN_BRACE, CLOSE_BRACE, OPEN_BRACKET, CLOSE_BRACKET];

/** The largest member kept by default: far above any usage, model or error member. */
export const DEFAULT_MAX_MEMBER_BYTES = 1024 * 1024;
/** The most bytes kept by default over all members. */
export const DEFAULT_MAX_KEPT_BYTES = 4 * 1024 * 1024;
/** Keys up to this size are read even when their member is skipped. */
const MIN_KEY_BYTES = 4096;
/** Distinct skipped keys remembered; further ones are added up under the empty key. */
const MAX_SKIPPED_KEYS = 64;

export interface JsonMemberScannerOptions {
  /** A member (key and value) larger than this is skipped (default 1 MiB). */
  maxMemberBytes?: number;
  /** Members are kept while their total stays within this (default 4 MiB). */
  maxKeptBytes?: number;
}

/** What a scanned body holds. */
export interface ScannedBody {
  /**
   * The body with only its kept members: a top-level object rebuilt from them and parsed with
   * JSON.parse (so duplicate keys, `__proto__` and escapes mean what JSON.parse makes of them);
   * for a body that is not an object, the whole value when it fits in `maxMemberBytes`.
   */
  value: unknown;
  /** Bytes of each skipped member by key (a key that could not be read counts under ""). */
  skipped: ReadonlyMap<string, number>;
}

/** A scanner fed the answer's bytes in order; it never throws. */
export interface JsonMemberScanner {
  push(chunk: Buffer): void;
  /**
   * The kept members once the body is complete; undefined when the body is not well-formed JSON
   * as far as the scanner can tell (the inside of a skipped member is not validated), is cut
   * short, or is a non-object larger than `maxMemberBytes`.
   */
  end(): ScannedBody | undefined;
}

const enum State {
  /** Before the top-level value. */
  Before,
  /** Inside the object, where a key (or, unless just after a comma, `}`) comes next. */
  Key,
  /** Inside a key string. */
  KeyString,
  Colon,
  ValueStart,
  /** Inside a string, object or array value (its nesting in `depth`). */
  Value,
  /** Inside a number, true, false or null. */
  Primitive,
  AfterValue,
  Done,
  /** The top-level value is not an object: kept whole within the bound. */
  Raw,
  Failed,
}

/**
 * Creates a scanner. Each byte is looked at once; the contents of strings are crossed with
 * `indexOf` (most of a large answer's bytes are text or base64 inside strings). Structural
 * characters are ASCII and never occur inside a multi-byte UTF-8 character, so chunks may be
 * split anywhere. Kept bytes are copied out of the chunks (no chunk stays referenced), skipped
 * members cost only their byte count: memory is bounded by `maxKeptBytes` plus one member
 * being assembled (itself at most `maxMemberBytes`).
 */
export function createJsonMemberScanner(options: JsonMemberScannerOptions = {}): JsonMemberScanner {
  const maxMember = options.maxMemberBytes ?? DEFAULT_MAX_MEMBER_BYTES;
  const maxKept = options.maxKeptBytes ?? DEFAULT_MAX_KEPT_BYTES;
  // Keys are read even for skipped members (to name them), up to their own bound.
  const maxKey = Math.max(maxMember, MIN_KEY_BYTES);
  let state = State.Before;
  let afterComma = false;
  let inString = false;
  /** Backslashes at the end of the string part seen so far (a quote after an odd run is escaped). */
  let backslashRun = 0;
  let depth = 0;
  // The member being read: its bytes (while it may still be kept), its size and key bytes.
  let parts: Buffer[] = [];
  let size = 0;
  let keep = true;
  let keyParts: Buffer[] = [];
  let keySize = 0;
  // Kept members in order, with their decoded keys (undefined: unreadable key).
  const kept: { key: string | undefined; bytes: Buffer }[] = [];
  let keptBytes = 0;
  const skipped = new Map<string, number>();

  const fail = (): void => {
    state = State.Failed;
    parts = [];
    keyParts = [];
    kept.length = 0;
  };

  /** Adds bytes of the current member; past the bounds, only their count. */
  const take = (piece: Buffer): void => {
    size += piece.length;
    if (!keep) return;
    if (size > maxMember || keptBytes + size > maxKept) {
      keep = false;
      parts = [];
      return;
    }
    parts.push(Buffer.from(piece));
  };

  const keyOf = (): string | undefined => {
    if (keySize > maxKey) return undefined;
    try {
      const key: unknown = JSON.parse(Buffer.concat(keyParts).toString('utf8'));
      return typeof key === 'string' ? key : undefined;
    } catch {
      return undefined;
    }
  };

  const finishMember = (): void => {
    const key = keyOf();
    // A later duplicate replaces an earlier one, as in JSON.parse, even when it is skipped.
    if (key !== undefined) {
      for (let k = kept.length - 1; k >= 0; k--) {
        const member = kept[k];
        if (member?.key !== key) continue;
        keptBytes -= member.bytes.length;
        kept.splice(k, 1);
      }
    }
    if (keep) {
      const bytes = parts.length === 1 && parts[0] !== undefined ? parts[0] : Buffer.concat(parts);
      kept.push({ key, bytes });
      keptBytes += bytes.length;
    } else {
      const name = key !== undefined && (skipped.has(key) || skipped.size < MAX_SKIPPED_KEYS) ? key : '';
      skipped.set(name, (skipped.get(name) ?? 0) + size);
    }
    parts = [];
    size = 0;
    keep = true;
    keyParts = [];
    keySize = 0;
    state = State.AfterValue;
  };

  /**
   * Crosses string contents from `i`: the index just after the closing quote, or -1 when the
   * string goes on in the next chunk. Only quotes are searched (`indexOf`); a quote is escaped
   * when an odd number of backslashes precedes it, counted backwards, so a long string full of
   * escapes (`\n` on every line) costs one search per quote, not one per escape.
   * `backslashRun` carries the backslashes that ended the previous chunk's part of the string.
   */
  const crossString = (chunk: Buffer, i: number): number => {
    let at = i;
    for (;;) {
      const quote = chunk.indexOf(QUOTE, at);
      if (quote === -1) {
        let run = 0;
        let k = chunk.length - 1;
        while (k >= i && chunk[k] === BACKSLASH) {
          run += 1;
          k -= 1;
        }
        backslashRun = k < i ? backslashRun + run : run;
        return -1;
      }
      let run = 0;
      let k = quote - 1;
      while (k >= i && chunk[k] === BACKSLASH) {
        run += 1;
        k -= 1;
      }
      if (k < i) run += backslashRun;
      backslashRun = 0;
      if (run % 2 === 0) return quote + 1;
      at = quote + 1;
      // The escaped quote is string content: backslashes before the next quote are counted from here.
      i = at;
    }
  };

  // The next position of each structural character in the current chunk, searched again only
  // once passed (-2: not searched yet in this chunk, -1: none left).
  const nextAt = [-2, -2, -2, -2, -2];

  /** The index of the next quote or bracket at or after `i`, or -1. */
  const nextStructural = (chunk: Buffer, i: number): number => {
    let best = -1;
    for (let c = 0; c < STRUCTURAL.length; c++) {
      let at = nextAt[c] as number;
      if (at !== -1 && at < i) {
        at = chunk.indexOf(STRUCTURAL[c] as number, i);
        nextAt[c] = at;
      }
      if (at !== -1 && (best === -1 || at < best)) best = at;
    }
    return best;
  };

  const pushRaw = (chunk: Buffer): void => {
    take(chunk);
    if (!keep) fail();
  };

  return {
    push(chunk) {
      if (state === State.Failed || chunk.length === 0) return;
      if (state === State.Raw) {
        pushRaw(chunk);
        return;
      }
      nextAt.fill(-2);
      // Where the current member's bytes start in this chunk (-1: outside a member).
      let from = state >= State.KeyString && state <= State.Primitive ? 0 : -1;
      let keyFrom = state === State.KeyString ? 0 : -1;
      let i = 0;
      while (i < chunk.length) {
        switch (state) {
          case State.Before: {
            const byte = chunk[i] as number;
            if (isJsonWhitespace(byte)) break;
            if (byte !== OPEN_BRACE) {
              state = State.Raw;
              pushRaw(chunk.subarray(i));
              return;
            }
            state = State.Key;
            afterComma = false;
            break;
          }
          case State.Key: {
            const byte = chunk[i] as number;
            if (isJsonWhitespace(byte)) break;
            if (byte === CLOSE_BRACE && !afterComma) {
              state = State.Done;
              break;
            }
            if (byte !== QUOTE) {
              fail();
              return;
            }
            state = State.KeyString;
            from = i;
            keyParts.push(OPENING_QUOTE);
            keySize = 1;
            i += 1;
            keyFrom = i;
            continue;
          }
          case State.KeyString: {
            const next = crossString(chunk, i);
            const end = next === -1 ? chunk.length : next;
            keySize += end - keyFrom;
            if (keySize <= maxKey) keyParts.push(Buffer.from(chunk.subarray(keyFrom, end)));
            if (next === -1) {
              i = chunk.length;
              continue;
            }
            keyFrom = -1;
            state = State.Colon;
            i = next;
            continue;
          }
          case State.Colon: {
            const byte = chunk[i] as number;
            if (isJsonWhitespace(byte)) break;
            if (byte !== COLON) {
              fail();
              return;
            }
            state = State.ValueStart;
            break;
          }
          case State.ValueStart: {
            const byte = chunk[i] as number;
            if (isJsonWhitespace(byte)) break;
            if (byte === QUOTE) {
              state = State.Value;
              depth = 0;
              inString = true;
              i += 1;
              continue;
            }
            if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
              state = State.Value;
              depth = 1;
              break;
            }
            if (byte === COMMA || byte === CLOSE_BRACE || byte === CLOSE_BRACKET || byte === COLON) {
              fail();
              return;
            }
            state = State.Primitive;
            break;
          }
          case State.Value: {
            if (inString) {
              const next = crossString(chunk, i);
              if (next === -1) {
                i = chunk.length;
                continue;
              }
              inString = false;
              i = next;
              if (depth === 0) {
                take(chunk.subarray(from, i));
                finishMember();
                from = -1;
              }
              continue;
            }
            // Outside strings only brackets and quotes matter: jump to the next one (arrays of
            // numbers, such as embeddings, have nothing else for tens of kilobytes).
            const next = nextStructural(chunk, i);
            if (next === -1) {
              i = chunk.length;
              continue;
            }
            i = next;
            const byte = chunk[i] as number;
            if (byte === QUOTE) {
              inString = true;
            } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
              depth += 1;
            } else {
              depth -= 1;
              if (depth === 0) {
                take(chunk.subarray(from, i + 1));
                finishMember();
                from = -1;
              }
            }
            break;
          }
          case State.Primitive: {
            const byte = chunk[i] as number;
            if (byte === COMMA || byte === CLOSE_BRACE || isJsonWhitespace(byte)) {
              take(chunk.subarray(from, i));
              finishMember();
              from = -1;
              continue; // the byte is read again after the value
            }
            break;
          }
          case State.AfterValue: {
            const byte = chunk[i] as number;
            if (isJsonWhitespace(byte)) break;
            if (byte === COMMA) {
              state = State.Key;
              afterComma = true;
            } else if (byte === CLOSE_BRACE) {
              state = State.Done;
            } else {
              fail();
              return;
            }
            break;
          }
          case State.Done: {
            if (!isJsonWhitespace(chunk[i])) {
              fail();
              return;
            }
            break;
          }
          default:
            return;
        }
        i += 1;
      }
      if (from !== -1) take(chunk.subarray(from));
    },
    end() {
      if (state === State.Raw) {
        if (!keep) return undefined;
        try {
          return { value: JSON.parse(Buffer.concat(parts).toString('utf8')) as unknown, skipped };
        } catch {
          return undefined;
        }
      }
      if (state !== State.Done) return undefined;
      const text = `{${kept.map((m) => m.bytes.toString('utf8')).join(',')}}`;
      try {
        return { value: JSON.parse(text) as unknown, skipped };
      } catch {
        return undefined;
      }
    },
  };
}
