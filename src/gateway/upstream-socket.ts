import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { buildConnector, Pool } from 'undici';
import { ContinueFilter } from './continue-filter.js';

/** How a backend's pool is sized and timed (the rest is fixed here). */
export interface UpstreamPoolOptions {
  connections: number;
  keepAliveTimeout: number;
  headersTimeout: number;
  bodyTimeout: number;
  /** Connection options (e.g. a CA for https backends in tests); undici's defaults otherwise. */
  connect?: buildConnector.BuildOptions;
}

/**
 * An undici Pool to one backend whose connections drop unsolicited `100 Continue` heads at the
 * start of each response ({@link ContinueFilter}), so such an answer is relayed instead of
 * failing with a closed connection.
 *
 * Invariant the filter relies on: `pipelining: 1`. undici writes a request only once the
 * previous answer on that connection was parsed to its end (and, on a reused connection, after
 * reading whatever arrived meanwhile: undici's idle-socket check), so the first byte read after
 * a request's head is written is the first byte of its answer.
 */
export function createUpstreamPool(origin: string, options: UpstreamPoolOptions): Pool {
  const { connect, ...sizing } = options;
  return new Pool(origin, { ...sizing, pipelining: 1, connect: createUpstreamConnector(connect) });
}

/**
 * undici's own connector (plain TCP or TLS, session cache, connect timeout: the defaults a
 * Pool uses) whose sockets go through {@link filterContinueAnswers}.
 */
export function createUpstreamConnector(options: buildConnector.BuildOptions = {}): buildConnector.connector {
  const connect = buildConnector(options);
  return (target, callback) => {
    connect(target, (...args) => {
      // On a failed connect undici passes the error and no socket (undefined, not null).
      const [err, socket] = args;
      if (err === null && socket !== null && socket !== undefined) filterContinueAnswers(socket);
      callback(...args);
    });
  };
}

/**
 * The start of an HTTP/1.1 request as undici writes it: a request's head is always its first
 * write, one latin1 string (`client-h1.js`, writeH1). The gateway's bodies are Buffers, and
 * undici's chunk frames start with CRLF, so no other write of a request is taken for a head.
 */
const REQUEST_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [^ \r\n]+ HTTP\/1\.1\r\n/;

/**
 * Puts a {@link ContinueFilter} between a connected socket and undici's parser.
 *
 * Where: `push`, on this socket only. Node hands every byte read from the connection to the
 * stream through `push` (`onStreamRead` in `internal/stream_base_commons`), for a `net.Socket`
 * and for a `tls.TLSSocket` alike (there, the decrypted bytes); undici then takes them with
 * `socket.read()`. Bytes undici gives back with `socket.unshift()` (when its parser pauses) do
 * not go through `push` again, so each byte passes the filter exactly once. Requests are seen
 * at `write`, where undici writes each request's head.
 *
 * HTTP/2 connections (ALPN `h2`, never offered by the gateway's pools) are left alone.
 */
export function filterContinueAnswers(socket: Socket | TLSSocket): void {
  if ('alpnProtocol' in socket && socket.alpnProtocol === 'h2') return;
  const filter = new ContinueFilter();
  const push = socket.push.bind(socket);
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  socket.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (chunk instanceof Buffer) {
      const out = filter.filter(chunk);
      // Nothing to hand on yet (a head being held, or a 100 removed): keep reading.
      return out === undefined ? socket.readableLength < socket.readableHighWaterMark : push(out);
    }
    if (chunk === null) {
      const held = filter.flush();
      if (held !== undefined) push(held);
    }
    return push(chunk, encoding);
  };
  socket.write = (...args: unknown[]): boolean => {
    const chunk = args[0];
    if (typeof chunk === 'string' && REQUEST_LINE.test(chunk)) filter.requestWritten();
    return write(...args);
  };
}
