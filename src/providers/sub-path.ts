import { TokenmeterError } from '../errors.js';

/** Helpers on the sub-path of a call (the path below an API's base path, query included). */

/** Splits a sub-path into its path and its query (the query keeps its `?`, or is ''). */
export function splitQuery(subPath: string): { path: string; query: string } {
  const q = subPath.indexOf('?');
  return q === -1 ? { path: subPath, query: '' } : { path: subPath.slice(0, q), query: subPath.slice(q) };
}

/**
 * Whether a decoded segment holds a character a path parameter may never hold: the separators
 * `/` and `\` (a backend that decodes the segment would read them as more segments), C0 and C1
 * controls, NUL and DEL. Other Unicode (even look-alikes of `.` or `/`) is plain text to every
 * backend.
 */
function hasForbiddenCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code <= 0x1f || (code >= 0x7f && code <= 0x9f) || code === 0x2f || code === 0x5c) return true;
  }
  return false;
}

/**
 * Decodes a path parameter (Azure deployment, Gemini model, Vertex project / location / model)
 * exactly once and checks that it is one plain segment: not empty, not `.` or `..`, without `/`,
 * `\` or control characters, and without the characters in `alsoForbidden` (e.g. `:` where it
 * separates a custom method). The path goes upstream as the client sent it, so the value checked
 * is the value a backend reads after its own single decoding; a double-encoded `%252e%252e`
 * decodes once to the harmless literal `%2e%2e`.
 *
 * @throws TokenmeterError TM_BAD_PATH (400) for anything else, malformed escapes included, so
 * the call is neither forwarded nor billed.
 * @example
 * readPathParameter('my%20gpt-4o', 'deployment'); // 'my gpt-4o'
 * readPathParameter('%2e%2e%2fadmin', 'deployment'); // throws TM_BAD_PATH
 */
export function readPathParameter(segment: string, name: string, alsoForbidden = ''): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    throw badPath(name, 'holds a malformed %-escape');
  }
  if (decoded === '') throw badPath(name, 'is empty');
  if (decoded === '.' || decoded === '..') throw badPath(name, 'is a dot segment');
  if (hasForbiddenCharacter(decoded) || [...alsoForbidden].some((c) => decoded.includes(c)))
    throw badPath(name, 'holds a separator or a control character');
  return decoded;
}

function badPath(name: string, why: string): TokenmeterError {
  // The value itself is not echoed: it may hold control characters.
  return new TokenmeterError('TM_BAD_PATH', `The ${name} in the request path ${why}.`);
}

/**
 * Checks every segment of a request path (the part before `?`) the way a backend that decodes
 * it once reads it: no segment may be `.` or `..` (raw or %-encoded, e.g. `%2e%2E`), nor hold
 * an encoded `/` (`%2f`), a `\` (raw or `%5c`) or a control character (`%00` included). Empty
 * segments and malformed escapes are left to route matching (no route has them: 404).
 *
 * @throws TokenmeterError TM_BAD_PATH (400): the call is neither forwarded nor billed.
 */
export function checkRequestPath(path: string, options: PathCheckOptions = {}): void {
  for (const segment of path.split('/')) {
    if (segment === '') continue;
    let decoded = segment;
    if (segment.includes('%')) {
      try {
        decoded = decodeURIComponent(segment);
      } catch {
        // A malformed escape: the segment is checked as it is.
      }
    }
    // A segment that may hold an encoded `/` has each of its parts checked as a segment.
    const parts = options.slashAllowedIn?.(decoded) === true ? decoded.split('/') : [decoded];
    for (const part of parts) {
      if (part === '.' || part === '..') throw badPath('path', 'holds a dot segment');
      if (hasForbiddenCharacter(part))
        throw badPath('path', 'holds an encoded separator or a control character');
    }
  }
}

/** Exceptions to checkRequestPath's rules for an API whose path parameters need them. */
export interface PathCheckOptions {
  /**
   * Whether a decoded segment may hold an encoded `/` (Bedrock: a model id that is an ARN);
   * each of its `/`-separated parts is then checked as a segment, so `%2e%2e%2f` stays refused.
   */
  slashAllowedIn?: (decodedSegment: string) => boolean;
}
