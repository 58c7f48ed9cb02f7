import { request } from 'node:http';

/** An answer as the client saw it. */
export interface RawAnswer {
  status: number;
  /** Header names lower-cased, as node:http reports them. */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * Sends one request with node:http, which (unlike fetch) sends the path exactly as given (no
 * `..` resolution, no re-encoding) and lets a test set `Connection` and repeat headers (an
 * array value is sent as several header lines).
 */
export function rawRequest(
  baseUrl: string,
  options: {
    method?: string;
    path: string;
    headers?: Record<string, string | string[]>;
    body?: string | Buffer;
  },
): Promise<RawAnswer> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: options.method ?? 'POST',
        path: options.path,
        headers: options.headers ?? {},
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
