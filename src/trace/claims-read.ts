/**
 * `jwt.claims.appid`, `jwt.claims.?appid`, `jwt.claims["app-id"]` / `['app-id']`: the claim a
 * custom dimension expression names. Whitespace CEL allows around the dots is allowed here too.
 */
const CLAIM_ACCESS =
  /\bjwt\s*\.\s*claims\s*(?:\.\s*\??\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*(?:"([^"\\]*)"|'([^'\\]*)')\s*\])/g;

/**
 * The JWT claims that custom dimension expressions read by name, each once, in the order they
 * first appear: what a call trace lists as used. Read once from the configuration at start-up.
 * A claim reached another way (`jwt.claims[request.headers['x-claim']]`, a whole-map function)
 * cannot be told from the text and is not listed; its value still shows in the dimension.
 *
 * @example
 * claimsReadBy(['jwt.claims.appid', 'has(jwt.claims.tid) ? jwt.claims["tid"] : ""']); // ['appid', 'tid']
 */
export function claimsReadBy(expressions: readonly string[]): string[] {
  const names = new Set<string>();
  for (const expression of expressions)
    for (const match of expression.matchAll(CLAIM_ACCESS)) {
      const name = match[1] ?? match[2] ?? match[3];
      if (name !== undefined && name !== '') names.add(name);
    }
  return [...names];
}
