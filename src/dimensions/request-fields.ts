/**
 * The parts of a client request that custom dimension expressions read as maps:
 * `request.query` and `request.body`. Both are built only for configurations whose expressions
 * read them (see expression-context.ts), never on the hot path otherwise.
 */

/** A scalar a JSON body field may hold, as CEL reads it: whole numbers are CEL `int`s. */
export type BodyScalar = string | bigint | number | boolean;

/**
 * Query parameter names that carry credentials, in any API (compared case-insensitively, after
 * decoding and without the `$` prefix Google's system parameters accept): never visible to an
 * expression, so never in a ledger or a metric label. Gemini's `key` and `access_token` are
 * already taken out of the sub-path before this (takeQueryCredential); these cover the same
 * names sent to any other API, and the other spellings in common use.
 */
const CREDENTIAL_PARAMETERS: ReadonlySet<string> = new Set([
  'key',
  'api-key',
  'api_key',
  'apikey',
  'access_token',
  'subscription-key',
  'token',
  'sig',
  'code',
]);

/** Decodes a query component (`+` is a space); the raw text when its escapes are malformed. */
function decodeComponent(text: string): string {
  if (!text.includes('%') && !text.includes('+')) return text;
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return text;
  }
}

/**
 * The query parameters of a call as `request.query`: names and values decoded once, a name
 * given several times joined with ", " (as Node joins a repeated header), a name without `=`
 * read as ''. Credential parameters ({@link CREDENTIAL_PARAMETERS}) are left out.
 * The map has no prototype, so a parameter named `__proto__` is just a key.
 *
 * @param query the query string, with or without its leading `?` ('' for none)
 * @example
 * readQueryParameters('?api-version=2024-10-21&tag=a&tag=b&key=SECRET');
 * // { 'api-version': '2024-10-21', tag: 'a, b' }
 */
export function readQueryParameters(query: string): Record<string, string> {
  const params = Object.create(null) as Record<string, string>;
  const text = query.startsWith('?') ? query.slice(1) : query;
  if (text === '') return params;
  for (const param of text.split('&')) {
    if (param === '') continue;
    const eq = param.indexOf('=');
    const name = decodeComponent(eq === -1 ? param : param.slice(0, eq));
    const bare = name.startsWith('$') ? name.slice(1) : name;
    if (bare === '' || CREDENTIAL_PARAMETERS.has(bare.toLowerCase())) continue;
    const value = eq === -1 ? '' : decodeComponent(param.slice(eq + 1));
    const earlier = params[name];
    params[name] = earlier === undefined ? value : `${earlier}, ${value}`;
  }
  return params;
}

/**
 * The top-level scalar fields of a parsed JSON request body as `request.body`: strings,
 * booleans and numbers (a whole number within ±2^53 is a CEL `int`, any other number a
 * `double`). Objects, arrays and `null` are left out, so `request.body.messages` is a missing
 * key, never a copy of the conversation. Strings are referenced, not copied. A body that is not
 * a JSON object gives an empty map. The map has no prototype.
 *
 * @example
 * readBodyScalars({ model: 'gpt-4o', max_tokens: 100, temperature: 0.2, messages: [] });
 * // { model: 'gpt-4o', max_tokens: 100n, temperature: 0.2 }
 */
export function readBodyScalars(body: unknown): Record<string, BodyScalar> {
  const fields = Object.create(null) as Record<string, BodyScalar>;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return fields;
  for (const [name, value] of Object.entries(body)) {
    if (typeof value === 'string' || typeof value === 'boolean') fields[name] = value;
    else if (typeof value === 'number' && Number.isFinite(value))
      fields[name] = Number.isSafeInteger(value) ? BigInt(value) : value;
  }
  return fields;
}
