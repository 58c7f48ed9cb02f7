import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { CREDENTIAL_HEADERS } from './client-credentials.js';

// RFC 9110 §7.6.1: hop-by-hop headers are not forwarded by a proxy.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
]);
// `expect: 100-continue` was answered by this server already (the body is read in full before
// forwarding), and undici refuses requests that carry it.
const DROPPED_UPSTREAM = new Set<string>([...HOP_BY_HOP, ...CREDENTIAL_HEADERS, 'accept-encoding', 'expect']);

/**
 * The headers sent upstream: the client's, less hop-by-hop and credential headers. The response
 * must be readable by the tap, so compression is not requested (accept-encoding: identity).
 */
export function upstreamRequestHeaders(
  headers: IncomingHttpHeaders,
  host: string,
  bodyLength: number,
  auth: { header: string; value: string } | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || DROPPED_UPSTREAM.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  out.host = host;
  out['content-length'] = String(bodyLength);
  out['accept-encoding'] = 'identity';
  if (auth !== undefined) out[auth.header] = auth.value;
  return out;
}

/** The headers sent to the client: the upstream's, less hop-by-hop ones (and length when rewritten). */
export function clientResponseHeaders(
  headers: IncomingHttpHeaders,
  keepLength: boolean,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (HOP_BY_HOP.has(name) && !(keepLength && name === 'content-length')) continue;
    out[name] = value;
  }
  return out;
}

/** The provider's request id, for the ledger (OpenAI, Azure, Anthropic header names). */
export function upstreamRequestId(headers: IncomingHttpHeaders): string | undefined {
  for (const name of ['x-request-id', 'apim-request-id', 'request-id']) {
    const value = headers[name];
    if (typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}
