/**
 * What an answer body looks like from its first bytes, for backends whose content type lies (an
 * event stream labelled `application/json`, a JSON error labelled `text/event-stream`).
 */

import { isJsonWhitespace } from '../providers/json-bytes.js';

/** `sse`: an event stream; `json`: a JSON value; `other`: neither, the label decides. */
export type SniffedKind = 'sse' | 'json' | 'other';

/** Leading bytes looked at, at most; an answer still undecided after them is `other`. */
export const SNIFF_LIMIT = 64 * 1024;

// An SSE stream starts with a field line or a comment (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
const SSE_PREFIXES = ['data:', 'event:', 'id:', 'retry:'].map((p) => Buffer.from(p));

const BOM = [0xef, 0xbb, 0xbf];

/**
 * Sniffs the kind of an answer from its first decoded bytes: the first byte that is not
 * whitespace (nor a UTF-8 BOM) is `{` or `[` for JSON, `:` or the start of a field name followed
 * by `:` for SSE. Returns undefined while the bytes seen could still start either (a split
 * `dat`, leading blank lines); the caller decides by the label after SNIFF_LIMIT bytes or at
 * the end of the body.
 */
export function sniffAnswerKind(bytes: Buffer): SniffedKind | undefined {
  let i = 0;
  while (i < bytes.length && i < BOM.length && bytes[i] === BOM[i]) i++;
  if (i > 0 && i < BOM.length) return i === bytes.length ? undefined : 'other';
  while (i < bytes.length && isJsonWhitespace(bytes[i])) i++;
  if (i === bytes.length) return undefined;
  const first = bytes[i];
  if (first === 0x7b || first === 0x5b) return 'json';
  if (first === 0x3a) return 'sse';
  let undecided = false;
  for (const prefix of SSE_PREFIXES) {
    const seen = Math.min(prefix.length, bytes.length - i);
    if (bytes.compare(prefix, 0, seen, i, i + seen) !== 0) continue;
    if (seen === prefix.length) return 'sse';
    undecided = true;
  }
  return undecided ? undefined : 'other';
}
