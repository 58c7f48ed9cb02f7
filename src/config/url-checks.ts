/**
 * Checks of the URLs and paths a configuration names, each returning why a value cannot be used
 * (one line, never repeating the value: it may hold a secret) or undefined when it can.
 */

/**
 * A backend `url`: an absolute http(s) URL to which the gateway appends each call's path and
 * query. A query string or fragment would end up in the middle of every upstream URL, and
 * `user:password` would be dropped silently (the credential belongs in `apiKey`).
 */
export function describeBackendUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'must be an absolute http:// or https:// URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return `must be an http:// or https:// URL, not ${url.protocol}`;
  if (url.username !== '' || url.password !== '')
    return 'must not carry user:password; put the credential in apiKey';
  if (url.search !== '' || text.includes('?'))
    return 'must not carry a query string: the gateway appends each call’s own path and query';
  if (url.hash !== '' || text.includes('#')) return 'must not carry a fragment (#…)';
  return undefined;
}

// RFC 3986 path characters: unreserved, sub-delims, ":" and "@", and "/" between segments.
const PATH_CHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]$/;

/**
 * An API `path`, the prefix client URLs are matched against byte for byte: it must start with
 * "/" and hold only characters a request path can carry unencoded (RFC 3986 `pchar` and "/",
 * or `%XX` escapes); no query, fragment, space or control character, and no "." or ".."
 * segment (clients resolve those before sending, so such a prefix would never match).
 */
export function describeApiPathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'must start with "/"';
  if (path.includes('?') || path.includes('#')) return 'must not hold a query or fragment ("?", "#")';
  const chars = Array.from(path);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] ?? '';
    if (ch === '%') {
      if (!/^[0-9A-Fa-f]{2}$/.test(chars.slice(i + 1, i + 3).join('')))
        return '"%" must start a %XX escape of two hex digits';
      i += 2;
    } else if (!PATH_CHAR.test(ch)) {
      return `holds ${describeChar(ch)}, which cannot appear in a request path; percent-encode it`;
    }
  }
  if (path.split('/').some((segment) => segment === '.' || segment === '..'))
    return 'must not hold "." or ".." segments';
  return undefined;
}

/** A character for a message: quoted when printable ASCII, else its code point. */
function describeChar(ch: string): string {
  if (ch === ' ') return 'a space';
  const code = ch.codePointAt(0) ?? 0;
  return code > 0x20 && code < 0x7f ? `"${ch}"` : `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}
