/** Helpers on the sub-path of a call (the path below an API's base path, query included). */

/** Splits a sub-path into its path and its query (the query keeps its `?`, or is ''). */
export function splitQuery(subPath: string): { path: string; query: string } {
  const q = subPath.indexOf('?');
  return q === -1 ? { path: subPath, query: '' } : { path: subPath.slice(0, q), query: subPath.slice(q) };
}
