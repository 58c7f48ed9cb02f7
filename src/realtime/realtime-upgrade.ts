import { STATUS_CODES, type IncomingMessage, type IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { TokenmeterError } from '../errors.js';
import { splitQuery } from '../providers/sub-path.js';
import type { RequestInfo, RouteMatch } from '../providers/types.js';
import type { Backend } from '../gateway/backends.js';
import { resolveCallDimensions } from '../gateway/call-dimensions.js';
import { createCallMeter, type CallMeter } from '../gateway/call-meter.js';
import { upstreamRequestHeaders } from '../gateway/headers.js';
import type { ProxyDeps } from '../gateway/proxy-call.js';
import { matchRealtimeRoute, REALTIME_OPERATION } from './realtime-routes.js';
import { relayRealtimeSession, type RealtimeSession } from './realtime-session.js';

/**
 * The subprotocol prefix browsers carry their key in (a browser WebSocket cannot set headers):
 * `Sec-WebSocket-Protocol: realtime, openai-insecure-api-key.<key>, openai-beta.realtime-v1`.
 */
export const KEY_SUBPROTOCOL_PREFIX = 'openai-insecure-api-key.';

/** The most of an upstream's refusal body (its HTTP error) relayed to the client. */
const MAX_REFUSAL_BODY_BYTES = 64 * 1024;

/** Realtime sessions over WebSocket (docs/realtime.md): the gateway's `upgrade` listener. */
export interface RealtimeGateway {
  /** Handles one `upgrade` request of the gateway's HTTP server (any path). */
  readonly handleUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Sessions open now (tokenmeter_realtime_sessions). */
  readonly sessions: number;
  /** Ends every open session (1001 going away) and resolves once their records are committed. */
  close(): Promise<void>;
}

/** A session's upgrade, checked and authenticated, before the upstream is dialled. */
interface PreparedSession {
  backend: Backend;
  upstreamUrl: string;
  upstreamHeaders: Record<string, string>;
  /** Subprotocols for the upstream: the client's, less the key one. */
  upstreamProtocols: string[];
  clientProtocols: string[];
  keyInSubprotocol: boolean;
  newMeter: () => CallMeter;
}

export function createRealtimeGateway(deps: ProxyDeps): RealtimeGateway {
  const sessions = new Set<RealtimeSession>();
  /** The subprotocol to accept back, chosen per request once the upstream answered. */
  const accepted = new WeakMap<IncomingMessage, string | false>();
  const server = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: deps.config.gateway.maxEventBytes,
    handleProtocols: (_protocols, req) => accepted.get(req) ?? false,
  });
  const { log } = deps;

  async function connect(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const prepared = prepareSession(req, deps);
    const session = await prepared;
    const upstream = await dialUpstream(session, deps, socket);
    if (upstream === undefined) return;
    if (socket.destroyed) {
      upstream.terminate();
      return;
    }
    accepted.set(req, acceptedProtocol(session, upstream.protocol));
    server.handleUpgrade(req, socket, head, (client) => {
      const relayed = relayRealtimeSession({
        client,
        upstream,
        newMeter: session.newMeter,
        log,
        onEnd: () => sessions.delete(relayed),
      });
      sessions.add(relayed);
    });
  }

  return {
    handleUpgrade: (req, socket, head) => {
      // A client resetting mid-handshake must not take the process down.
      socket.on('error', () => undefined);
      connect(req, socket, head).catch((err: unknown) => {
        const error =
          err instanceof TokenmeterError
            ? err
            : new TokenmeterError('TM_INTERNAL', 'Internal gateway error.', { cause: err });
        if (!(err instanceof TokenmeterError)) log.error({ err }, 'realtime upgrade failed');
        deps.refusals.count(routedApi(req, deps), error);
        refuseUpgrade(socket, error.status, 'application/json', JSON.stringify(error.toJSON()));
      });
    },
    get sessions() {
      return sessions.size;
    },
    async close() {
      await Promise.all([...sessions].map((s) => s.close()));
      server.close();
    },
  };
}

/**
 * The stages of an HTTP call, for an upgrade: route, authenticate (subscription key header,
 * JWT, or the browser's key subprotocol), refuse when the ledger or a blocking budget says so,
 * and resolve the dimensions once for the session (one meter per response reuses them).
 */
async function prepareSession(req: IncomingMessage, deps: ProxyDeps): Promise<PreparedSession> {
  const url = req.url ?? '/';
  checkWebSocketHandshake(req);
  const match = deps.router.match(url);
  const route = match === undefined ? undefined : matchRealtimeRoute(match.api.type, match.subPath);
  if (match === undefined || route === undefined)
    throw new TokenmeterError('TM_NOT_FOUND', `No Realtime endpoint is served at ${splitQuery(url).path}.`);
  const clientProtocols = readSubprotocols(req.headers);
  const keyProtocol = clientProtocols.find((p) => p.startsWith(KEY_SUBPROTOCOL_PREFIX));
  const subprotocolKey = keyProtocol?.slice(KEY_SUBPROTOCOL_PREFIX.length);
  const caller = await deps.callers.identify(
    req.headers,
    match.api,
    subprotocolKey === '' ? undefined : subprotocolKey,
  );
  const refusal = deps.sink.refusal();
  if (refusal !== undefined) throw refusal;
  const overBudget = deps.budgets?.refusal(caller.subscription.id);
  if (overBudget !== undefined) throw overBudget;
  const backend = deps.backends.get(match.api.backend);
  if (backend === undefined)
    throw new TokenmeterError('TM_INTERNAL', `Backend "${match.api.backend}" is not configured.`);
  const routeMatch: RouteMatch = {
    operation: REALTIME_OPERATION,
    metered: true,
    upstreamPath: route.upstreamPath,
    ...(route.model !== undefined ? { pathModel: route.model } : {}),
  };
  const info: RequestInfo = {
    stream: true,
    clientWantsStreamUsage: false,
    ...(route.model !== undefined ? { model: route.model } : {}),
  };
  const { dimensions, custom, flags } = resolveCallDimensions({
    req,
    url,
    query: splitQuery(match.subPath).query,
    body: undefined,
    api: match.api,
    route: routeMatch,
    info,
    caller,
    backend,
    gateway: deps.config.gateway,
    users: deps.config.users,
    clientIp: deps.clientIp,
    customDimensions: deps.customDimensions,
  });
  const newMeter = (): CallMeter => {
    const time = Date.now();
    return createCallMeter({
      time,
      startedAt: performance.now(),
      dimensions,
      custom,
      sink: deps.sink,
      nextId: deps.nextRecordId,
      costOf: (responseModel, usage) =>
        deps.prices.costOf({
          backend: backend.id,
          subscription: dimensions.subscription,
          model: dimensions.model,
          responseModel,
          time,
          usage,
        }),
      flags,
    });
  };
  return {
    backend,
    upstreamUrl: `${backend.origin.replace(/^http/, 'ws')}${backend.basePath}${route.upstreamPath}`,
    upstreamHeaders: upstreamHandshakeHeaders(req.headers, backend),
    upstreamProtocols: clientProtocols.filter((p) => !p.startsWith(KEY_SUBPROTOCOL_PREFIX)),
    clientProtocols,
    keyInSubprotocol: keyProtocol !== undefined,
    newMeter,
  };
}

/**
 * Opens the upstream WebSocket with the backend's credential. Resolves with it once open;
 * with undefined when the client went away meanwhile or the upstream refused the upgrade (its
 * HTTP answer was relayed to the client). Rejects with TM_UPSTREAM_UNAVAILABLE / _TIMEOUT when
 * the upstream cannot be reached.
 */
function dialUpstream(
  session: PreparedSession,
  deps: ProxyDeps,
  socket: Duplex,
): Promise<WebSocket | undefined> {
  const upstream = new WebSocket(session.upstreamUrl, session.upstreamProtocols, {
    headers: session.upstreamHeaders,
    perMessageDeflate: false,
    handshakeTimeout: deps.config.gateway.upstreamTimeoutMs,
    maxPayload: deps.config.gateway.maxEventBytes,
  });
  return new Promise((resolve, reject) => {
    const clientGone = (): void => {
      upstream.terminate();
      resolve(undefined);
    };
    socket.once('close', clientGone);
    const settle = (): void => {
      socket.off('close', clientGone);
      upstream.removeAllListeners('open');
      upstream.removeAllListeners('unexpected-response');
    };
    upstream.once('open', () => {
      // Not read until the relay listens: a first event that came with the 101 (session.created)
      // would otherwise be emitted to nobody before the client's upgrade completes.
      upstream.pause();
      settle();
      upstream.removeAllListeners('error');
      resolve(upstream);
    });
    upstream.once('unexpected-response', (_request, response) => {
      settle();
      upstream.on('error', () => undefined);
      const chunks: Buffer[] = [];
      let size = 0;
      const relay = (): void => {
        upstream.terminate();
        const status = response.statusCode ?? 502;
        const type = response.headers['content-type'] ?? 'application/json';
        refuseUpgrade(socket, status, type, Buffer.concat(chunks));
        resolve(undefined);
      };
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_REFUSAL_BODY_BYTES) chunks.push(chunk);
        else response.destroy();
      });
      response.once('end', relay);
      response.once('close', () => {
        if (!response.complete) relay();
      });
    });
    upstream.once('error', (err: Error) => {
      settle();
      upstream.on('error', () => undefined);
      deps.log.warn({ err, backend: session.backend.id }, 'realtime upstream could not be opened');
      const timedOut = /timed out/i.test(err.message);
      reject(
        new TokenmeterError(
          timedOut ? 'TM_UPSTREAM_TIMEOUT' : 'TM_UPSTREAM_UNAVAILABLE',
          timedOut
            ? 'The backend did not open the Realtime session in time.'
            : 'The backend could not be reached to open the Realtime session.',
          { cause: err },
        ),
      );
    });
  });
}

/**
 * The subprotocol accepted back to the client: the one the upstream chose, when the client
 * offered it; else `realtime` for a browser that sent its key as a subprotocol (it must get a
 * protocol back, and never its key); else none.
 */
function acceptedProtocol(session: PreparedSession, upstreamProtocol: string): string | false {
  if (upstreamProtocol !== '' && session.clientProtocols.includes(upstreamProtocol)) return upstreamProtocol;
  if (session.keyInSubprotocol && session.clientProtocols.includes('realtime')) return 'realtime';
  return false;
}

/**
 * The handshake headers sent upstream: the client's, filtered by the same policy as HTTP calls
 * (credentials, hop-by-hop and gateway headers never; the backend's forward / drop lists), less
 * the handshake's own headers (the upstream socket makes its own key and version), plus the
 * backend's credential.
 */
function upstreamHandshakeHeaders(headers: IncomingHttpHeaders, backend: Backend): Record<string, string> {
  const out = upstreamRequestHeaders(headers, backend.host, 0, backend.auth, backend.headerPolicy);
  for (const name of Object.keys(out)) {
    if (name.startsWith('sec-websocket-') || name === 'host' || name === 'content-length') delete out[name];
    if (name === 'accept-encoding') delete out[name];
  }
  return out;
}

/** A request ws would refuse at handleUpgrade: refused here, before any upstream is dialled. */
function checkWebSocketHandshake(req: IncomingMessage): void {
  const upgrade = req.headers.upgrade?.toLowerCase();
  const key = req.headers['sec-websocket-key'];
  const version = req.headers['sec-websocket-version'];
  if (
    req.method !== 'GET' ||
    upgrade !== 'websocket' ||
    key === undefined ||
    !/^[+/0-9A-Za-z]{22}==$/.test(key) ||
    (version !== '13' && version !== '8')
  )
    throw new TokenmeterError('TM_BAD_REQUEST', 'Not a valid WebSocket upgrade request.');
}

function readSubprotocols(headers: IncomingHttpHeaders): string[] {
  const raw = headers['sec-websocket-protocol'];
  if (raw === undefined) return [];
  return raw
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

/** The API an upgrade was routed to, for the refusal counter ('' when none). */
function routedApi(req: IncomingMessage, deps: ProxyDeps): string {
  try {
    return deps.router.match(req.url ?? '/')?.api.id ?? '';
  } catch {
    return '';
  }
}

/** Answers an upgrade with a plain HTTP response and closes the connection. */
function refuseUpgrade(socket: Duplex, status: number, contentType: string, body: string | Buffer): void {
  if (socket.destroyed || !socket.writable) return;
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'Connection: close',
    `Content-Type: ${contentType}`,
    `Content-Length: ${bytes.length}`,
    ...(status === 401 ? ['WWW-Authenticate: Bearer'] : []),
  ].join('\r\n');
  socket.end(Buffer.concat([Buffer.from(`${head}\r\n\r\n`), bytes]));
}
