import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Http2Cleartext } from './http2-cleartext.js';

/**
 * What a drain did: calls in flight when it began; how many finished and how many were cut
 * (these two also count a call that arrived during the drain on a connection still open).
 */
export interface DrainSummary {
  inFlight: number;
  finished: number;
  cut: number;
}

/**
 * The gateway's calls in flight, for a graceful stop. `track` is given each request with the
 * promise of its handling (which settles once the call's record is committed, also for a call
 * cut short), so a drain waits for the records too, not only for the bytes.
 */
export interface DrainTracker {
  track(req: IncomingMessage, res: ServerResponse, handling: Promise<void>): void;
  /**
   * Stops accepting connections at once, closes idle keep-alive connections, lets the calls in
   * flight finish for up to `timeoutMs` (their responses, when not begun yet, carry
   * `Connection: close`; a connection whose call finished is closed), then destroys the
   * connections still open: a stream cut there is recorded `partial`, as any cut stream.
   * Without `timeoutMs` the calls may take as long as they take. Resolves once every tracked
   * handling has settled.
   */
  drain(timeoutMs?: number): Promise<DrainSummary>;
}

interface InFlight {
  res: ServerResponse;
  socket: Socket;
  settled: Promise<void>;
}

/**
 * Creates the in-flight tracker of one HTTP server, and of the HTTP/2 sessions on its port when
 * `http2` is given: a drain sends them GOAWAY with the idle HTTP/1.1 connections' close, and
 * destroys them at the deadline (for an HTTP/2 call `req.socket` stands for its stream only).
 */
export function createDrainTracker(
  server: Server,
  http2?: Pick<Http2Cleartext, 'close' | 'destroy'>,
): DrainTracker {
  const inFlight = new Set<InFlight>();
  let draining = false;
  /** Calls that arrived during the drain on a connection that was still busy (pipelining). */
  let arrivedDuringDrain = 0;

  function closeAfterResponse(call: InFlight): void {
    // Not begun: Node writes `Connection: close` and ends the socket after the response.
    if (!call.res.headersSent) call.res.shouldKeepAlive = false;
  }

  return {
    track(req, res, handling) {
      const call: InFlight = { res, socket: req.socket, settled: handling.catch(() => undefined) };
      inFlight.add(call);
      if (draining) {
        arrivedDuringDrain += 1;
        closeAfterResponse(call);
      }
      void call.settled.then(() => {
        inFlight.delete(call);
        // A keep-alive connection whose call ended during a drain is idle now: close it.
        if (draining) setImmediate(() => server.closeIdleConnections());
      });
    },
    async drain(timeoutMs) {
      draining = true;
      const calls = [...inFlight];
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      http2?.close();
      for (const call of calls) closeAfterResponse(call);
      let cut = 0;
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'deadline'>((resolve) => {
        if (timeoutMs !== undefined) timer = setTimeout(() => resolve('deadline'), timeoutMs);
      });
      // Done when every call has settled (calls arriving meanwhile included) and every
      // connection has closed; a response still being written keeps its connection open.
      const quiet = (async () => {
        while (inFlight.size > 0) await Promise.all([...inFlight].map((c) => c.settled));
        await closed;
      })();
      const first = await Promise.race([quiet.then(() => 'done' as const), deadline]);
      clearTimeout(timer);
      if (first === 'deadline') {
        for (const call of inFlight) {
          cut += 1;
          call.socket.destroy();
        }
        server.closeAllConnections();
        http2?.destroy();
        await quiet;
      }
      return { inFlight: calls.length, finished: calls.length + arrivedDuringDrain - cut, cut };
    },
  };
}
