import type { IncomingHttpHeaders } from 'node:http';

/**
 * Headers a client may carry its subscription key in (DESIGN.md, "Client side"). All of them
 * are removed before a call is forwarded: a subscription key never reaches a backend.
 */
export const CREDENTIAL_HEADERS = [
  'api-key',
  'ocp-apim-subscription-key',
  'authorization',
  'x-api-key',
  'x-goog-api-key',
] as const;

/**
 * Reads the subscription key from the first credential header that carries one. With
 * `bearer: false` (an API that takes a JWT in Authorization) the Authorization header is not a
 * key and is skipped.
 */
export function readSubscriptionKey(
  headers: IncomingHttpHeaders,
  options: { bearer?: boolean } = {},
): string | undefined {
  for (const name of CREDENTIAL_HEADERS) {
    if (name === 'authorization') {
      if (options.bearer === false) continue;
      const token = readBearerToken(headers);
      if (token !== undefined) return token;
      continue;
    }
    const raw = headers[name];
    const value = Array.isArray(raw) ? raw[0] : raw;
    if (value === undefined || value === '') continue;
    return value.trim();
  }
  return undefined;
}

/** The token of `Authorization: Bearer <token>` (the SDKs send it so), else undefined. */
export function readBearerToken(headers: IncomingHttpHeaders): string | undefined {
  const value = headers.authorization;
  if (value === undefined || value === '') return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(value);
  const token = match?.[1]?.trim();
  return token === undefined || token === '' ? undefined : token;
}
