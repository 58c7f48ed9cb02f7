import { connect as netConnect, type Socket } from 'node:net';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { listen } from '../../src/http-listen.js';

/**
 * The `openai` SDK always dials `wss://` (realtime/internal-base.js buildRealtimeURL); the test
 * gateway listens on plain HTTP, as behind a TLS-terminating ingress. This option makes the
 * SDK's `ws` socket a plain TCP connection to the same host and port: everything above TCP
 * (the handshake, the frames) is what the SDK sends.
 */
export const PLAIN_TCP = {
  createConnection: ((options: { host?: string | undefined; port?: number | string | undefined }): Socket =>
    netConnect({
      host: options.host ?? '127.0.0.1',
      port: Number(options.port),
    })) as unknown as typeof netConnect,
};

/** A server event as the SDK parsed it. */
export type ServerEvent = { type: string } & Record<string, unknown>;

/** Resolves with the next event of `type` (rejects on an SDK error first). */
export function nextEvent(rt: OpenAIRealtimeWS, type: string): Promise<ServerEvent> {
  return new Promise((resolve, reject) => {
    const onEvent = (event: { type: string }): void => {
      if (event.type !== type) return;
      rt.off('event', onEvent);
      resolve(event);
    };
    rt.on('event', onEvent);
    rt.once('error', reject);
  });
}

/** Resolves once the SDK's socket is open. */
export function opened(rt: OpenAIRealtimeWS): Promise<void> {
  return new Promise((resolve, reject) => {
    if (rt.socket.readyState === WebSocket.OPEN) resolve();
    rt.socket.once('open', () => resolve());
    rt.socket.once('error', reject);
  });
}

/** Resolves with the close code and reason of a socket. */
export function closed(socket: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => {
    if (socket.readyState === WebSocket.CLOSED) resolve({ code: 1006, reason: '' });
    socket.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() }));
  });
}

/** The usage the client saw in a response.done event. */
export function usageOf(done: ServerEvent): Record<string, unknown> {
  const response = done['response'] as Record<string, unknown>;
  return response['usage'] as Record<string, unknown>;
}

/** A scripted upstream: each connection runs `script` (e.g. replays a capture). */
export interface ScriptedUpstream {
  url: string;
  /** The handshake requests it received. */
  requests: IncomingMessage[];
  close(): Promise<void>;
}

export async function startScriptedUpstream(
  script: (ws: WebSocket, req: IncomingMessage) => void,
  options: { refuse?: (req: IncomingMessage, socket: Duplex) => boolean } = {},
): Promise<ScriptedUpstream> {
  const server: Server = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true });
  const requests: IncomingMessage[] = [];
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    requests.push(req);
    if (options.refuse?.(req, socket) === true) return;
    wss.handleUpgrade(req, socket, head, (ws) => script(ws, req));
  });
  const url = await listen(server, 0, '127.0.0.1');
  return {
    url,
    requests,
    close: () =>
      new Promise((resolve) => {
        for (const client of wss.clients) client.terminate();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Waits until `check` holds, polling every 20 ms, for at most `ms` (then throws). */
export async function waitFor(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
