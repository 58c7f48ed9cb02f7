import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { TokenmeterError } from '../errors.js';
import type { ProviderAdapter, RouteMatch } from '../providers/types.js';
import { splitQuery } from '../providers/sub-path.js';
import type { ApiRouter } from './api-router.js';
import type { Backend } from './backends.js';
import { resolveCallDimensions } from './call-dimensions.js';
import { createCallMeter, type CallMeter } from './call-meter.js';
import type { ClientIpResolver } from './client-ip.js';
import { upstreamRequestHeaders } from './headers.js';
import { parseJsonBody, readBody } from './read-body.js';
import type { RecordSink } from './record-sink.js';
import { relayUpstream } from './upstream-relay.js';
import { sendError } from './send-error.js';
import type { CallerIdentifier } from '../auth/identify-caller.js';
import type { RecordIdGenerator } from '../ledger/record-id.js';
import type { PriceCatalog } from '../pricing/price-catalog.js';
import type { DimensionEvaluator } from '../dimensions/custom-dimensions.js';

/** Everything the proxy needs, built once at start-up. */
export interface ProxyDeps {
  config: Config;
  router: ApiRouter;
  callers: CallerIdentifier;
  backends: ReadonlyMap<string, Backend>;
  clientIp: ClientIpResolver;
  customDimensions: DimensionEvaluator;
  sink: RecordSink;
  prices: PriceCatalog;
  nextRecordId: RecordIdGenerator;
  log: Logger;
}

interface PreparedCall {
  adapter: ProviderAdapter;
  route: RouteMatch;
  backend: Backend;
  /** The client's request body, as received (parsed again only if tokens must be estimated). */
  requestBody: Buffer;
  upstreamBody: Buffer;
  stripUsageChunk: boolean;
  meter: CallMeter;
}

/**
 * One metered call: authenticate, resolve API / operation / dimensions, forward, relay the
 * answer while the tap reads its usage, commit the record before the response ends. Errors
 * before forwarding get a catalogue error and are neither forwarded nor billed.
 */
export async function proxyCall(req: IncomingMessage, res: ServerResponse, deps: ProxyDeps): Promise<void> {
  const time = Date.now();
  const startedAt = performance.now();
  let call: PreparedCall;
  try {
    call = await prepareCall(req, deps, time, startedAt);
  } catch (err) {
    if (!(err instanceof TokenmeterError)) throw err;
    sendError(res, err);
    return;
  }
  await forwardCall(req, res, call, deps);
}

async function prepareCall(
  req: IncomingMessage,
  deps: ProxyDeps,
  time: number,
  startedAt: number,
): Promise<PreparedCall> {
  const url = req.url ?? '/';
  const match = deps.router.match(url);
  if (match === undefined)
    throw new TokenmeterError('TM_NOT_FOUND', `No API is served at ${url.split('?')[0] ?? url}.`);
  // A key in the query string (Gemini's ?key=) is taken out before anything is forwarded or logged.
  const fromQuery = match.adapter.takeQueryCredential?.(match.subPath);
  const subPath = fromQuery?.subPath ?? match.subPath;
  const caller = await deps.callers.identify(req.headers, match.api, fromQuery?.key);
  const route = match.adapter.matchRoute(req.method ?? 'GET', subPath);
  if (route === undefined) {
    throw new TokenmeterError(
      'TM_NOT_FOUND',
      `Unknown operation ${req.method ?? 'GET'} ${subPath.split('?')[0] ?? ''} for API "${match.api.id}".`,
    );
  }
  // A call that could not be recorded durably is not forwarded (ledger.whenUnavailable).
  const refusal = route.metered ? deps.sink.refusal() : undefined;
  if (refusal !== undefined) throw refusal;
  const raw = await readBody(req, deps.config.gateway.maxBodyBytes);
  const body = parseJsonBody(raw);
  const info = match.adapter.inspectRequest(route, body);
  const backend = deps.backends.get(match.api.backend);
  if (backend === undefined)
    throw new TokenmeterError('TM_INTERNAL', `Backend "${match.api.backend}" is not configured.`);
  const prepared = match.adapter.prepareBody(
    route,
    info,
    body,
    raw,
    backend.injectStreamUsage && route.metered,
  );

  const { dimensions, custom, flags } = resolveCallDimensions({
    req,
    url,
    query: splitQuery(subPath).query,
    body,
    api: match.api,
    route,
    info,
    caller,
    backend,
    gateway: deps.config.gateway,
    users: deps.config.users,
    clientIp: deps.clientIp,
    customDimensions: deps.customDimensions,
  });
  const meter = createCallMeter({
    time,
    startedAt,
    dimensions,
    custom,
    sink: deps.sink,
    nextId: deps.nextRecordId,
    costOf: (model, usage) => deps.prices.costOf(backend.type, model, usage),
    metered: route.metered,
    flags,
  });
  return {
    adapter: match.adapter,
    route,
    backend,
    requestBody: raw,
    upstreamBody: prepared.body,
    stripUsageChunk: prepared.stripUsageChunk,
    meter,
  };
}

function forwardCall(
  req: IncomingMessage,
  res: ServerResponse,
  call: PreparedCall,
  deps: ProxyDeps,
): Promise<void> {
  const { backend, route } = call;
  return relayUpstream(
    backend.pool,
    {
      origin: backend.origin,
      method: 'POST',
      path: backend.basePath + route.upstreamPath,
      headers: upstreamRequestHeaders(
        req.headers,
        backend.host,
        call.upstreamBody.length,
        backend.auth,
        backend.headerPolicy,
      ),
      body: call.upstreamBody,
    },
    {
      res,
      meter: call.meter,
      adapter: call.adapter,
      route,
      requestBody: call.requestBody,
      stripUsageChunk: call.stripUsageChunk,
      maxEventBytes: deps.config.gateway.maxEventBytes,
      backendId: backend.id,
      log: deps.log,
    },
  );
}
