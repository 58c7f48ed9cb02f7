import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import {
  constants,
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from 'node:http2';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';

/**
 * HTTP/2 over cleartext TCP with prior knowledge (h2c, RFC 9113 §3.3) on the HTTP/1.1 server's
 * own port. The AWS SDK for JavaScript v3 (NodeHttp2Handler, the Bedrock Runtime client's
 * default) connects this way to an `http://` endpoint; an HTTP/1.1-only server fails it with
 * ERR_HTTP2_ERROR. Node has no cleartext server speaking both (`allowHTTP1` needs TLS ALPN), so
 * each new connection's first bytes are read once: the HTTP/2 connection preface sends it to an
 * `http2` server, anything else to the HTTP/1.1 server as before. After that first read the
 * HTTP/1.1 path is Node's own, untouched: no per-request work is added.
 */

/** RFC 9113 §3.4: every HTTP/2 connection starts with these 24 octets. */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * Streams one HTTP/2 connection may have open at once (nginx's http2_max_concurrent_streams
 * default). Node's own default is unbounded, which would let one connection bypass the bound
 * gateway.maxConnections puts on concurrent HTTP/1.1 calls; clients queue beyond it.
 */
const MAX_CONCURRENT_STREAMS = 128;

/**
 * The request handler both protocols share. HTTP/2 calls come through Node's compatibility API
 * (Http2ServerRequest / Http2ServerResponse), typed here as node:http's objects: what the
 * gateway uses of them behaves the same (url, method, headers, socket.remoteAddress, the body
 * stream, complete, writeHead/write/end/destroy, headersSent, 'drain', 'close',
 * writeEarlyHints). The differences are handled where they matter: `:`-pseudo-headers are never
 * forwarded upstream (headers.ts), and `shouldKeepAlive` (drain.ts) means nothing on a stream;
 * the session's GOAWAY does its job.
 */
export type GatewayHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface Http2CleartextOptions {
  /** Time a new connection has to send its first bytes (the preface or a request line). */
  firstBytesTimeoutMs: number;
  /**
   * Time an HTTP/2 client has to send its whole request (headers and body) on a stream, as
   * node:http's requestTimeout bounds an HTTP/1.1 request (gateway.requestTimeoutMs).
   */
  requestTimeoutMs: number;
  /** An HTTP/2 session with no stream open for this long is closed (as keep-alive idles). */
  idleTimeoutMs: number;
  log: Logger;
}

/** The HTTP/2 side of the gateway's port, for a graceful stop. */
export interface Http2Cleartext {
  /** HTTP/2 sessions open now. */
  readonly openSessions: number;
  /**
   * Sends GOAWAY on every session (its streams in flight finish, no new one is accepted; Node
   * closes the session once they have) and closes the connections that have not sent their
   * first bytes yet. Sessions opened later are closed at once.
   */
  close(): void;
  /** Destroys every session now: their streams in flight are cut. */
  destroy(): void;
}

/**
 * Takes over `server`'s 'connection' handling to accept h2c prior-knowledge connections beside
 * HTTP/1.1; `handler` answers both. Listeners added to 'connection' afterwards (the connection
 * gauge) still see every socket.
 */
export function acceptHttp2Cleartext(
  server: Server,
  handler: GatewayHandler,
  options: Http2CleartextOptions,
): Http2Cleartext {
  // node:http answers a connection in its own 'connection' listener (connectionListener): it
  // is held back and called once the first bytes are known not to be an HTTP/2 preface.
  const http1Listeners = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  const h2 = createHttp2Server(
    { settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS } },
    (req: Http2ServerRequest, res: Http2ServerResponse) => {
      limitRequestTime(req, res, options.requestTimeoutMs);
      // RFC 9113 §8.3.1: `:authority` stands for Host; the dashboard's same-origin check reads it.
      const authority = req.headers[':authority'];
      if (req.headers.host === undefined && typeof authority === 'string') req.headers.host = authority;
      handler(req as unknown as IncomingMessage, res as unknown as ServerResponse);
    },
  );
  const sessions = new Set<ServerHttp2Session>();
  const sniffing = new Set<Socket>();
  let closing = false;

  h2.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    // A protocol error (garbage after the preface, a bad frame) ends this session only.
    session.on('error', (err) => options.log.debug({ err }, 'HTTP/2 session error'));
    let streams = 0;
    session.on('stream', (stream) => {
      streams += 1;
      stream.once('close', () => (streams -= 1));
    });
    session.setTimeout(options.idleTimeoutMs, () => {
      // Idle like a keep-alive connection: closed when no stream is open; a long answer with
      // quiet gaps is left alone (its upstream has its own timeouts).
      if (streams === 0) session.close();
    });
    if (closing) session.close();
  });
  // Errors on a session's socket or streams also reach the server: logged, never thrown.
  h2.on('sessionError', (err) => options.log.debug({ err }, 'HTTP/2 session error'));
  h2.on('streamError', (err) => options.log.debug({ err }, 'HTTP/2 stream error'));

  const hand = (socket: Socket, seen: Buffer, http2: boolean): void => {
    socket.pause();
    socket.unshift(seen);
    if (http2) {
      // The session reads what the socket holds already on its next tick (Node 20's
      // Http2Session constructor), then reads the socket's handle itself.
      h2.emit('connection', socket);
      return;
    }
    for (const listener of http1Listeners) listener.call(server, socket);
    // node:http reads further bytes from the handle itself; the unshifted ones come as 'data'.
    socket.resume();
  };

  server.on('connection', (socket: Socket) => {
    if (closing) {
      socket.destroy();
      return;
    }
    let seen: Buffer = Buffer.alloc(0);
    sniffing.add(socket);
    // Until a server owns it, a reset socket must not throw an unhandled 'error'.
    const onError = (err: Error): void => options.log.debug({ err }, 'client connection failed');
    const timer = setTimeout(() => socket.destroy(), options.firstBytesTimeoutMs);
    const release = (): void => {
      clearTimeout(timer);
      sniffing.delete(socket);
      socket.off('error', onError);
      socket.off('close', release);
      socket.off('data', onData);
    };
    const onData = (chunk: Buffer): void => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const compared = Math.min(seen.length, PREFACE.length);
      const preface = seen.subarray(0, compared).equals(PREFACE.subarray(0, compared));
      // A partial preface waits for the rest (bounded by the timer: at most 23 bytes held).
      if (preface && seen.length < PREFACE.length) return;
      release();
      hand(socket, seen, preface);
    };
    socket.on('error', onError);
    socket.once('close', release);
    socket.on('data', onData);
  });

  return {
    get openSessions() {
      return sessions.size;
    },
    close() {
      closing = true;
      for (const socket of sniffing) socket.destroy();
      for (const session of sessions) session.close();
    },
    destroy() {
      closing = true;
      for (const socket of sniffing) socket.destroy();
      for (const session of sessions) session.destroy();
    },
  };
}

/**
 * node:http's requestTimeout for one HTTP/2 stream: a request whose body has not ended within
 * `ms` is answered `408 Request Timeout` (the stream is reset if its answer has begun). Only the
 * request is bounded: once its body has ended, the answer may stream as long as it takes.
 */
function limitRequestTime(req: Http2ServerRequest, res: Http2ServerResponse, ms: number): void {
  const timer = setTimeout(() => {
    if (req.readableEnded || res.writableEnded) return;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(408, { 'content-length': 0 });
    // Then RST_STREAM(NO_ERROR), as RFC 9113 §8.1 allows for an answer sent before the request
    // ended: the stream closes, so the body read waiting for it fails and the call settles.
    res.end(() => res.stream.close(constants.NGHTTP2_NO_ERROR));
  }, ms);
  const clear = (): void => clearTimeout(timer);
  req.once('end', clear);
  res.once('close', clear);
}
