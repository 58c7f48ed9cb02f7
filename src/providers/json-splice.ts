import { CLOSE_BRACE, lastMember, OPEN_BRACE, readObjectMembers, skipWhitespace } from './json-bytes.js';
import { isJsonObject } from './json.js';

/**
 * Sets one member of a JSON request body by splicing bytes, never by re-serialising: every byte
 * but the inserted or replaced member goes upstream as the client wrote it (big integers, `1.0`,
 * key order, duplicate keys, escapes, whitespace, nesting of any depth).
 */

/** The JSON text of `{"k1":{"k2":…{"kn":value}}}` for the keys left in `path`. */
function nestedObject(path: readonly string[], valueJson: string): string {
  return path.reduceRight((inner, key) => `{${JSON.stringify(key)}:${inner}}`, valueJson);
}

/** The bytes of `raw` with `text` put in place of `raw[start, end)`. */
function splice(raw: Buffer, start: number, end: number, text: string): Buffer {
  return Buffer.concat([raw.subarray(0, start), Buffer.from(text), raw.subarray(end)]);
}

/** Inserts member `"key":valueJson` first in the object whose `{` is at `open`. */
function insertFirst(raw: Buffer, open: number, key: string, valueJson: string): Buffer {
  const empty = raw[skipWhitespace(raw, open + 1)] === CLOSE_BRACE;
  const member = `${JSON.stringify(key)}:${valueJson}${empty ? '' : ','}`;
  return splice(raw, open + 1, open + 1, member);
}

/**
 * Sets `path` (e.g. `['stream_options', 'include_usage']`) to the JSON text `valueJson` in the
 * object body `raw`, following what JSON.parse reads:
 * - at each level the LAST member of that name is the one used (JSON.parse, and most backends,
 *   keep the last duplicate), and keys are compared once their escapes are decoded;
 * - a missing member is inserted first in its object (after the `{`; a `,` follows it unless the
 *   object was empty), holding the rest of the path as nested objects;
 * - an intermediate member whose value is not an object (`null`, a number, an array…) has that
 *   value replaced by the nested object;
 * - the last member of the path has its value replaced.
 * Only one span of `raw` changes. `parsed` is `raw` already parsed: when its first key is
 * absent the member is inserted without scanning the body. Returns undefined when `raw` is not
 * a JSON object (which JSON.parse would have refused).
 *
 * @example
 * const raw = Buffer.from('{"a":1.0, "s":{"u":false}}');
 * spliceMember(raw, ['s', 'u'], 'true', JSON.parse(raw.toString()))?.toString();
 * // '{"a":1.0, "s":{"u":true}}'
 */
export function spliceMember(
  raw: Buffer,
  path: readonly string[],
  valueJson: string,
  parsed: unknown,
): Buffer | undefined {
  let open = skipWhitespace(raw, 0);
  if (raw[open] !== OPEN_BRACE || path.length === 0) return undefined;
  const [first = ''] = path;
  // The common case: the client did not send the member at all, so nothing needs reading.
  if (isJsonObject(parsed) && !Object.hasOwn(parsed, first))
    return insertFirst(raw, open, first, nestedObject(path.slice(1), valueJson));
  for (let level = 0; level < path.length; level += 1) {
    const key = path[level] ?? '';
    const object = readObjectMembers(raw, open);
    if (object === undefined) return undefined;
    const member = lastMember(object, key);
    const rest = path.slice(level + 1);
    if (member === undefined) return insertFirst(raw, open, key, nestedObject(rest, valueJson));
    if (rest.length === 0) return splice(raw, member.valueStart, member.valueEnd, valueJson);
    if (raw[member.valueStart] !== OPEN_BRACE)
      return splice(raw, member.valueStart, member.valueEnd, nestedObject(rest, valueJson));
    open = member.valueStart;
  }
  return undefined;
}
