import type { Pool } from 'undici';
import type { BackendConfig, Config } from '../config/schema.js';
import { getProviderAdapter } from '../providers/registry.js';
import type { BackendAuth, UpstreamSigner } from '../providers/types.js';
import { createHeaderPolicy, type HeaderPolicy } from './headers.js';
import { createUpstreamPool } from './upstream-socket.js';

/** A backend ready to receive calls: its pool, its base path and its credential header. */
export interface Backend {
  id: string;
  /** The provider dimension: the backend's type. */
  type: string;
  pool: Pool;
  /** The backend's origin (scheme, host, port). */
  origin: string;
  /** The URL path prefix of the backend (e.g. "/v1"), without trailing slash. */
  basePath: string;
  /** Host header value for upstream requests. */
  host: string;
  auth?: BackendAuth;
  /** Signs each upstream request (Bedrock's SigV4) instead of a fixed credential header. */
  signer?: UpstreamSigner;
  injectStreamUsage: boolean;
  /** Which client headers reach this backend (`forwardHeaders` / `dropHeaders` applied). */
  headerPolicy: HeaderPolicy;
}

/** Resolves a backend's URL; the gateway starts simulator backends and passes their URLs here. */
export type BackendUrlResolver = (backend: BackendConfig) => string;

/**
 * The backend's credential header, as its provider adapter defines it (Bearer for OpenAI,
 * api-key for Azure OpenAI, …). A simulator speaks the OpenAI shape.
 */
function credentialFor(backend: BackendConfig): BackendAuth | undefined {
  if (backend.apiKey === undefined || backend.apiKey === '') return undefined;
  const adapter = getProviderAdapter(backend.type === 'simulator' ? 'openai' : backend.type);
  if (adapter === undefined) throw new Error(`no provider adapter for backend type "${backend.type}"`);
  return adapter.backendAuth(backend.apiKey);
}

export function createBackends(config: Config, resolveUrl: BackendUrlResolver): Map<string, Backend> {
  const backends = new Map<string, Backend>();
  for (const backend of config.backends) {
    const url = new URL(resolveUrl(backend));
    const auth = credentialFor(backend);
    const signer =
      backend.type === 'simulator'
        ? undefined
        : getProviderAdapter(backend.type)?.createUpstreamSigner?.(backend);
    backends.set(backend.id, {
      id: backend.id,
      type: backend.type,
      // One request per connection at a time (pipelining 1), which the 100 Continue filter
      // of its sockets relies on.
      pool: createUpstreamPool(url.origin, {
        connections: 256,
        keepAliveTimeout: 30_000,
        headersTimeout: config.gateway.upstreamTimeoutMs,
        bodyTimeout: config.gateway.upstreamTimeoutMs,
      }),
      origin: url.origin,
      basePath: url.pathname.replace(/\/+$/, ''),
      host: url.host,
      ...(auth !== undefined ? { auth } : {}),
      ...(signer !== undefined ? { signer } : {}),
      injectStreamUsage: backend.streamUsage === 'inject',
      headerPolicy: createHeaderPolicy(backend.forwardHeaders, backend.dropHeaders),
    });
  }
  return backends;
}

export async function closeBackends(backends: Map<string, Backend>): Promise<void> {
  await Promise.all([...backends.values()].map((b) => b.pool.close()));
}
