import { createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

/**
 * The benchmark's baseline: the thinnest useful Node reverse proxy. It forwards method, path,
 * headers and body to one upstream through an undici Pool and pipes the answer's bytes back
 * (undici `stream()`, no parsing, no buffering). What tokenmeter adds is measured against this.
 */

/** A running bare proxy. */
export interface BareProxy {
  url: string;
  close(): Promise<void>;
}

// Hop-by-hop headers (RFC 9110 §7.6.1) are per connection and must not be forwarded; host is
// set by undici from the upstream origin.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);

function forwardable(headers: IncomingHttpHeaders, drop: readonly string[] = []): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && !drop.includes(name)) out[name] = value;
  }
  return out;
}

/**
 * Starts a bare pass-through proxy to `upstream` (only its origin is used; paths are forwarded
 * unchanged). The pool has the same size and keep-alive settings as the gateway's backend pools.
 */
export async function startBareProxy(
  upstream: string,
  options: { host?: string; port?: number } = {},
): Promise<BareProxy> {
  const pool = new Pool(new URL(upstream).origin, {
    connections: 256,
    pipelining: 1,
    keepAliveTimeout: 30_000,
  });
  const server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    const hasBody = method !== 'GET' && method !== 'HEAD';
    pool
      .stream(
        {
          path: req.url ?? '/',
          method,
          headers: forwardable(req.headers, ['host']) as Record<string, string | string[]>,
          body: hasBody ? req : null,
        },
        ({ statusCode, headers }) => {
          res.writeHead(statusCode, forwardable(headers));
          return res;
        },
      )
      .catch(() => {
        if (!res.headersSent) {
          res.writeHead(502, { 'content-type': 'application/json' });
          res.end('{"error":{"message":"bad gateway","type":"api_error"}}');
        } else {
          res.destroy();
        }
      });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await pool.close();
    },
  };
}
