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

/** Reads the subscription key from the first credential header that carries one. */
export function readSubscriptionKey(headers: IncomingHttpHeaders): string | undefined {
  for (const name of CREDENTIAL_HEADERS) {
    const raw = headers[name];
    const value = Array.isArray(raw) ? raw[0] : raw;
    if (value === undefined || value === '') continue;
    if (name === 'authorization') {
      // Only the Bearer scheme carries a key; the SDKs send "Bearer <key>".
      const match = /^Bearer\s+(.+)$/i.exec(value);
      if (match?.[1] !== undefined) return match[1].trim();
      continue;
    }
    return value.trim();
  }
  return undefined;
}
