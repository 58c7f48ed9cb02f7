import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { Config } from '../config/schema.js';
import type { DefaultDimensions } from '../ledger/record.js';
import { TokenmeterError } from '../errors.js';
import type { ProviderAdapter, RouteMatch } from '../providers/types.js';
import type { ApiRouter } from './api-router.js';
import type { Backend } from './backends.js';
import { createCallMeter, type CallMeter } from './call-meter.js';
import type { ClientIpResolver } from './client-ip.js';
import { readSubscriptionKey } from './client-credentials.js';
import { upstreamRequestHeaders, upstreamRequestId } from './headers.js';
import { parseJsonBody, readBody } from './read-body.js';
import type { RecordSink } from './record-sink.js';
import { relayJson, relayStream } from './relay-response.js';
import { sendError } from './send-error.js';
import type { SubscriptionDirectory } from './subscriptions.js';
import type { PriceCatalog } from '../pricing/price-catalog.js';
import type { DimensionEvaluator } from '../dimensions/custom-dimensions.js';

/** Everything the proxy needs, built once at start-up. */
export interface ProxyDeps {
  config: Config;
  router: ApiRouter;
  subscriptions: SubscriptionDirectory;
  backends: ReadonlyMap<string, Backend>;
  clientIp: ClientIpResolver;
  customDimensions: DimensionEvaluator;
  sink: RecordSink;
  prices: PriceCatalog;
  log: Logger;
}

interface PreparedCall {
  adapter: ProviderAdapter;
  route: RouteMatch;
  backend: Backend;
  body: unknown;
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

async function prepareCall(req: IncomingMessage, deps: ProxyDeps, time: number, startedAt: number): Promise<PreparedCall> {
  const url = req.url ?? '/';
  const match = deps.router.match(url);
  if (match === undefined) throw new TokenmeterError('TM_NOT_FOUND', `No API is served at ${url.split('?')[0] ?? url}.`);
  const { subscription } = deps.subscriptions.authenticate(readSubscriptionKey(req.headers), match.api.id);
  const route = match.adapter.matchRoute(req.method ?? 'GET', match.subPath);
  if (route === undefined) {
    throw new TokenmeterError('TM_NOT_FOUND', `Unknown operation ${req.method ?? 'GET'} ${match.subPath.split('?')[0] ?? ''} for API "${match.api.id}".`);
  }
  const raw = await readBody(req, deps.config.gateway.maxBodyBytes);
  const body = parseJsonBody(raw);
  const info = match.adapter.inspectRequest(route, body);
  const backend = deps.backends.get(match.api.backend);
  if (backend === undefined) throw new TokenmeterError('TM_INTERNAL', `Backend "${match.api.backend}" is not configured.`);
  const prepared = match.adapter.prepareBody(route, info, body, raw, backend.injectStreamUsage && route.metered);

  const ip = deps.clientIp.resolve(req);
  const dimensions: DefaultDimensions = {
    api: match.api.id,
    operation: route.operation,
    product: subscription.product,
    subscription: subscription.id,
    location: deps.config.gateway.location,
    gateway: deps.config.gateway.id,
    backend: backend.id,
    provider: backend.type,
    stream: info.stream,
    ...(info.user !== undefined ? { user: info.user } : {}),
    ...(ip !== undefined ? { ip } : {}),
    ...(info.model !== undefined ? { model: info.model } : {}),
  };
  const custom = deps.customDimensions.evaluate({
    request: {
      method: req.method ?? 'GET',
      path: url.split('?')[0] ?? url,
      model: info.model ?? '',
      headers: req.headers,
      ip: ip ?? '',
      stream: info.stream,
      user: info.user ?? '',
    },
    subscription: {
      id: subscription.id,
      product: subscription.product,
      owner: subscription.owner ?? '',
      costCenter: subscription.costCenter ?? '',
    },
    api: { id: match.api.id },
    backend: { id: backend.id, type: backend.type },
    jwt: { claims: {} },
  });
  const meter = createCallMeter({
    time,
    startedAt,
    dimensions,
    custom,
    promptText: () => match.adapter.promptText(route, body),
    sink: deps.sink,
    costOf: (model, usage) => deps.prices.costOf(backend.type, model, usage),
  });
  return {
    adapter: match.adapter,
    route,
    backend,
    body,
    upstreamBody: prepared.body,
    stripUsageChunk: prepared.stripUsageChunk,
    meter,
  };
}

async function forwardCall(req: IncomingMessage, res: ServerResponse, call: PreparedCall, deps: ProxyDeps): Promise<void> {
  const { backend, route, meter, adapter } = call;
  const abort = new AbortController();
  let clientGone = false;
  res.on('close', () => {
    if (res.writableFinished) return;
    clientGone = true;
    abort.abort();
  });

  let upstream: Dispatcher.ResponseData;
  try {
    upstream = await backend.pool.request({
      method: 'POST',
      path: backend.basePath + route.upstreamPath,
      headers: upstreamRequestHeaders(req.headers, backend.host, call.upstreamBody.length, backend.auth),
      body: call.upstreamBody,
      signal: abort.signal,
    });
  } catch (err) {
    const status = clientGone ? 499 : 502;
    await meter.finish({ status, usage: {}, source: 'reported' });
    if (clientGone) return;
    deps.log.warn({ err, backend: backend.id }, 'upstream request failed');
    sendError(res, new TokenmeterError('TM_UPSTREAM_UNAVAILABLE', `Backend "${backend.id}" could not be reached.`, { cause: err }));
    return;
  }

  const requestId = upstreamRequestId(upstream.headers);
  const contentType = String(upstream.headers['content-type'] ?? '');
  const relay = {
    res,
    upstream,
    meter,
    isClientGone: () => clientGone,
    promptText: () => adapter.promptText(route, call.body),
    ...(requestId !== undefined ? { upstreamRequestId: requestId } : {}),
    log: deps.log,
  };
  if (contentType.includes('text/event-stream')) {
    await relayStream(relay, adapter.createStreamTap(route, { stripUsageChunk: call.stripUsageChunk }));
  } else {
    await relayJson(relay, (json) => adapter.extractUsage(route, json));
  }
}
