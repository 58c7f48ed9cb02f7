import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { gzipSync } from 'node:zlib';

/**
 * A deliberately misbehaving upstream for hardening tests: a raw TCP server that answers each
 * HTTP/1.1 request with whatever bytes a test scripts, so it can send what a well-behaved HTTP
 * library never would (1xx answers, lying content types, bodies cut mid-event, data after the
 * end of a stream, absurd usage). Each request's head and body are recorded.
 */

/** One step of a scripted answer. */
export type RogueStep =
  | { write: string | Buffer }
  /** Waits before the next step (lets the gateway see the bytes so far as one read). */
  | { pause: number }
  /** Destroys the socket: the answer is cut where it stands. */
  | { destroy: true }
  /** Ends the socket cleanly (FIN). */
  | { end: true };

export interface RogueRequest {
  method: string;
  path: string;
  /** Header names lower-cased; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** Raw header lines as received, in order. */
  rawHeaders: string[];
  body: Buffer;
  /** Which connection it came on (numbered from 1 in the order they were accepted). */
  connection: number;
}

/** Returns the steps that answer one request. */
export type RogueScript = (request: RogueRequest) => RogueStep[];

export interface RogueBackend {
  url: string;
  requests: RogueRequest[];
  /** The script for the next requests (default: a small JSON chat answer with usage). */
  script(next: RogueScript): void;
  close(): Promise<void>;
}

/** `HTTP/1.1 <status>` head with the given headers and a body of `content-length` bytes. */
export function httpAnswer(
  status: number,
  headers: Record<string, string>,
  body: string | Buffer,
  reason = 'OK',
): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const lines = [`HTTP/1.1 ${status} ${reason}`];
  for (const [name, value] of Object.entries({ ...headers, 'content-length': String(bytes.length) }))
    lines.push(`${name}: ${value}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), bytes]);
}

/** A response head only (for chunked or close-delimited bodies written by later steps). */
export function httpHead(status: number, headers: Record<string, string>, reason = 'OK'): Buffer {
  const lines = [`HTTP/1.1 ${status} ${reason}`];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`);
}

/** One chunk of a `transfer-encoding: chunked` body (an empty one ends the body). */
export function httpChunk(data: string | Buffer): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  return Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]);
}

/** gzip of a text, for answers that ignore `accept-encoding: identity`. */
export function gzipText(text: string): Buffer {
  return gzipSync(Buffer.from(text));
}

const DEFAULT_SCRIPT: RogueScript = () => [
  {
    write: httpAnswer(
      200,
      { 'content-type': 'application/json' },
      JSON.stringify({
        id: 'chatcmpl-rogue',
        object: 'chat.completion',
        model: 'gpt-4o-mini',
        choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
      }),
    ),
  },
];

export interface RogueOptions {
  /** Serve https with this key and certificate (the scripted bytes go inside TLS). */
  tls?: { key: string; cert: string };
}

/** Starts a rogue backend on 127.0.0.1, port 0. */
export async function startRogueBackend(options: RogueOptions = {}): Promise<RogueBackend> {
  const requests: RogueRequest[] = [];
  const sockets = new Set<Socket>();
  let current: RogueScript = DEFAULT_SCRIPT;
  let connections = 0;

  const onConnection = (socket: Socket): void => {
    connections += 1;
    const connection = connections;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    let busy = false;
    const tryRequest = (): void => {
      if (busy) return;
      const headEnd = buffered.indexOf('\r\n\r\n');
      if (headEnd === -1) return;
      const head = buffered.subarray(0, headEnd).toString('latin1').split('\r\n');
      const [method = '', path = ''] = (head[0] ?? '').split(' ');
      const rawHeaders = head.slice(1);
      const headers: Record<string, string> = {};
      for (const line of rawHeaders) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      }
      const length = Number(headers['content-length'] ?? '0');
      if (buffered.length < headEnd + 4 + length) return;
      const body = Buffer.from(buffered.subarray(headEnd + 4, headEnd + 4 + length));
      buffered = buffered.subarray(headEnd + 4 + length);
      const request: RogueRequest = { method, path, headers, rawHeaders, body, connection };
      requests.push(request);
      busy = true;
      void play(socket, current(request)).then(() => {
        busy = false;
        tryRequest();
      });
    };
    socket.on('data', (data: Buffer) => {
      buffered = Buffer.concat([buffered, data]);
      tryRequest();
    });
  };
  const server: Server =
    options.tls === undefined ? createServer(onConnection) : createTlsServer(options.tls, onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    requests,
    script(next) {
      current = next;
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function play(socket: Socket, steps: RogueStep[]): Promise<void> {
  for (const step of steps) {
    if (socket.destroyed) return;
    if ('write' in step) {
      await new Promise<void>((resolve) => socket.write(step.write, () => resolve()));
    } else if ('pause' in step) {
      await new Promise((resolve) => setTimeout(resolve, step.pause));
    } else if ('destroy' in step) {
      socket.destroy();
      return;
    } else {
      socket.end();
      return;
    }
  }
}
