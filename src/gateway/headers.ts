import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { CREDENTIAL_HEADERS } from '../auth/client-credentials.js';

/**
 * Which headers cross the gateway, in each direction. Header names are compared lower-cased
 * (Node lower-cases incoming names; config names are lower-cased when the policy is built).
 */

// RFC 9110 §7.6.1: hop-by-hop headers are not forwarded by a proxy, nor are the headers the
// `Connection` header names. HTTP2-Settings belongs to the h2c upgrade (RFC 7540 §3.2.1).
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/**
 * The parts of an AWS SigV4 signature besides `authorization` (a credential header already):
 * they sign the client's request to the gateway, never the one sent upstream, and
 * `x-amz-security-token` is the client's own session credential
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html).
 */
const CLIENT_SIGNATURE_HEADERS = ['x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256'] as const;

/**
 * Never sent upstream from the client, whatever the config: hop-by-hop headers, the client's
 * credentials (a subscription key never reaches a backend) and signature headers, and the
 * headers the gateway sets itself. `expect: 100-continue` was answered by this server already
 * (the body is read in full before forwarding), and undici refuses requests that carry it.
 */
const NEVER_FORWARDED: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP,
  ...CREDENTIAL_HEADERS,
  ...CLIENT_SIGNATURE_HEADERS,
  'host',
  'content-length',
  'accept-encoding',
  'expect',
]);

/**
 * Dropped unless a backend's `forwardHeaders` names them:
 * - `cookie`: the client's cookies are for the gateway's origin, not the provider's;
 * - headers choosing which account or project the gateway's key bills: OpenAI's
 *   `OpenAI-Organization` and `OpenAI-Project`
 *   (https://platform.openai.com/docs/api-reference/authentication), Google's
 *   `X-Goog-User-Project` (https://cloud.google.com/apis/docs/system-parameters);
 * - proxy headers a client can forge, which a backend (or a proxy in front of it) may believe
 *   about who is calling or which URL was asked for: `Forwarded`, `X-Forwarded-*`, `X-Real-IP`,
 *   `X-Client-IP`, `True-Client-IP`, `CF-Connecting-IP`, `X-Original-URL`, `X-Rewrite-URL`;
 * - method overrides (`X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override`), which
 *   Google's front end and many frameworks honour: the call metered is a POST.
 */
const DROPPED_BY_DEFAULT: ReadonlySet<string> = new Set([
  'cookie',
  'openai-organization',
  'openai-project',
  'x-goog-user-project',
  'forwarded',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'x-original-url',
  'x-rewrite-url',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
]);
const DROPPED_PREFIXES: readonly string[] = ['x-forwarded-'];

/**
 * The gateway's own headers (`x-tokenmeter-trace`, which carries the admin key, and
 * `x-tokenmeter-trace-id`): never sent upstream, whatever the config, and never taken from an
 * upstream answer, where they would override the gateway's own.
 */
const GATEWAY_HEADER_PREFIX = 'x-tokenmeter-';

/** A backend's adjustments to the default request header policy. */
export interface HeaderPolicy {
  /** Headers forwarded although the default drops them (never a NEVER_FORWARDED one). */
  readonly forward: ReadonlySet<string>;
  /** Headers dropped on top of the default. */
  readonly drop: ReadonlySet<string>;
}

/**
 * Builds a backend's header policy from `backends[].forwardHeaders` / `dropHeaders`. Names are
 * lower-cased. `dropHeaders` wins over `forwardHeaders`; hop-by-hop headers, credentials and
 * the headers the gateway sets (host, content-length, accept-encoding, expect) can never be
 * forwarded, so naming them in `forwardHeaders` has no effect.
 */
export function createHeaderPolicy(
  forwardHeaders: readonly string[] = [],
  dropHeaders: readonly string[] = [],
): HeaderPolicy {
  const drop = new Set(dropHeaders.map((name) => name.trim().toLowerCase()));
  const forward = new Set(
    forwardHeaders
      .map((name) => name.trim().toLowerCase())
      .filter(
        (name) => !drop.has(name) && !NEVER_FORWARDED.has(name) && !name.startsWith(GATEWAY_HEADER_PREFIX),
      ),
  );
  return { forward, drop };
}

/** The default policy: nothing added, nothing removed. */
export const DEFAULT_HEADER_POLICY: HeaderPolicy = createHeaderPolicy();

/** The header names a `Connection` header nominates (comma-separated tokens, any case). */
function connectionTokens(value: string | string[] | undefined): Set<string> {
  const tokens = new Set<string>();
  if (value === undefined) return tokens;
  for (const line of Array.isArray(value) ? value : [value])
    for (const token of line.split(',')) {
      const name = token.trim().toLowerCase();
      if (name !== '') tokens.add(name);
    }
  return tokens;
}

function droppedByDefault(name: string): boolean {
  return DROPPED_BY_DEFAULT.has(name) || DROPPED_PREFIXES.some((prefix) => name.startsWith(prefix));
}

/**
 * Whether a client header goes upstream under `policy`: never for HTTP/2 pseudo-headers,
 * hop-by-hop headers, headers
 * the client's `Connection` header names, credentials, gateway-set headers and the gateway's
 * own `x-tokenmeter-*` headers; not for the default-dropped ones unless forwarded by the
 * policy; not for the policy's dropped ones.
 */
function forwardsHeader(name: string, nominated: ReadonlySet<string>, policy: HeaderPolicy): boolean {
  // HTTP/2 pseudo-headers (`:method`, `:path`, `:authority`, `:scheme`; RFC 9113 §8.3) describe
  // the client's request to the gateway: never a header of the upstream request.
  if (name.startsWith(':')) return false;
  if (NEVER_FORWARDED.has(name) || nominated.has(name) || policy.drop.has(name)) return false;
  if (name.startsWith(GATEWAY_HEADER_PREFIX)) return false;
  return !droppedByDefault(name) || policy.forward.has(name);
}

/**
 * The headers sent upstream: the client's, filtered by the backend's policy (see
 * forwardsHeader), then the gateway's own: host, content-length of the body sent, the backend
 * credential, and `accept-encoding: identity` (the tap must read the answer).
 */
export function upstreamRequestHeaders(
  headers: IncomingHttpHeaders,
  host: string,
  bodyLength: number,
  auth: { header: string; value: string } | undefined,
  policy: HeaderPolicy = DEFAULT_HEADER_POLICY,
): Record<string, string> {
  const nominated = connectionTokens(headers.connection);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || !forwardsHeader(name, nominated, policy)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  out.host = host;
  out['content-length'] = String(bodyLength);
  out['accept-encoding'] = 'identity';
  if (auth !== undefined) out[auth.header] = auth.value;
  return out;
}

/**
 * Response headers the client never sees: the backend's cookies (set for the backend's session,
 * e.g. a CDN's, not the client's), the headers naming the gateway's account with the provider
 * (`openai-organization`, `openai-project`, `anthropic-organization-id`:
 * https://docs.anthropic.com/en/api/overview#response-headers), and `alt-svc`, which would
 * advertise the backend's alternative services as the gateway's.
 */
const RESPONSE_DROPPED: ReadonlySet<string> = new Set([
  'set-cookie',
  'openai-organization',
  'openai-project',
  'anthropic-organization-id',
  'alt-svc',
]);

/**
 * The headers sent to the client: the upstream's, less hop-by-hop ones and those the upstream's
 * `Connection` names, less RESPONSE_DROPPED and `x-tokenmeter-*`, and less `content-length`
 * unless `keepLength` (a stream may be rewritten, so its length is not the upstream's).
 */
export function clientResponseHeaders(
  headers: IncomingHttpHeaders,
  keepLength: boolean,
): OutgoingHttpHeaders {
  const nominated = connectionTokens(headers.connection);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || nominated.has(name) || RESPONSE_DROPPED.has(name))
      continue;
    if (name.startsWith(GATEWAY_HEADER_PREFIX)) continue;
    if (name === 'content-length' && !keepLength) continue;
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
