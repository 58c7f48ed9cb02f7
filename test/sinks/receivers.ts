// Real HTTP receivers on 127.0.0.1 for the metric sinks' tests: they keep every request, and
// answer as the test says (accept, answer 500, or accept the connection and never answer).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';

export type ReceiverMode = 'ok' | 'fail500' | 'hang';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export interface Receiver {
  url: string;
  port: number;
  mode: ReceiverMode;
  /** Requests answered 200 (the ones whose points arrived). */
  readonly accepted: ReceivedRequest[];
  /** Every request that reached the receiver, whatever the answer. */
  readonly seen: number;
  /** Resolves once `accepted` has at least `n` requests (the test's own timeout bounds it). */
  waitForAccepted(n: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts a receiver; `answer` may give the 200 body (Application Insights' track response). */
export async function startReceiver(
  mode: ReceiverMode = 'ok',
  answer: (req: ReceivedRequest) => string = () => '',
  port = 0,
): Promise<Receiver> {
  const sockets = new Set<Socket>();
  const waiters: { n: number; resolve: () => void }[] = [];
  const receiver = {
    url: '',
    port: 0,
    mode,
    accepted: [] as ReceivedRequest[],
    seen: 0,
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      receiver.seen += 1;
      const request: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      if (receiver.mode === 'hang') return;
      if (receiver.mode === 'fail500') {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('broken');
        return;
      }
      receiver.accepted.push(request);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(answer(request));
      for (const w of [...waiters])
        if (receiver.accepted.length >= w.n) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address();
  receiver.port = typeof address === 'object' && address !== null ? address.port : 0;
  receiver.url = `http://127.0.0.1:${receiver.port}`;
  return Object.assign(receiver, {
    waitForAccepted(n: number) {
      if (receiver.accepted.length >= n) return Promise.resolve();
      return new Promise<void>((resolve) => waiters.push({ n, resolve }));
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
