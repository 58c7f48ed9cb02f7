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
import type { RefusalCounter } from './refusal-counter.js';
import { relayUpstream } from './upstream-relay.js';
import { sendError } from './send-error.js';
import type { BudgetTracker } from '../budgets/budget-tracker.js';
import type { CallerIdentifier } from '../auth/identify-caller.js';
import type { RecordIdGenerator } from '../ledger/record-id.js';
import type { UsageRecord } from '../ledger/record.js';
import type { CallPricer } from '../pricing/call-pricer.js';
import type { DimensionEvaluator } from '../dimensions/custom-dimensions.js';
import type { CallTrace } from '../trace/call-trace.js';
import { TRACE_HEADER, type CallTracer } from '../trace/call-tracer.js';

/** Everything the proxy needs, built once at start-up. */
export interface ProxyDeps {
  config: Config;
  router: ApiRouter;
  callers: CallerIdentifier;
  backends: ReadonlyMap<string, Backend>;
  clientIp: ClientIpResolver;
  customDimensions: DimensionEvaluator;
  sink: RecordSink;
  prices: CallPricer;
  nextRecordId: RecordIdGenerator;
  /** Traces the calls that carry `x-tokenmeter-trace: <admin key>`. */
  tracer: CallTracer;
  refusals: RefusalCounter;
  log: Logger;
  /** Budgets of the subscriptions (absent: none configured); refuses calls of a used-up `block` budget. */
  budgets?: BudgetTracker;
}

/** The API a call was routed to, for counting a refusal after it (absent: none). */
interface RoutedTo {
  api?: string;
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
 * before forwarding get a catalogue error and are neither forwarded nor billed. A call that
 * asks for a trace with the admin key has each stage noted in it (trace/call-tracer.ts); any
 * other call pays one header lookup for that.
 */
export async function proxyCall(req: IncomingMessage, res: ServerResponse, deps: ProxyDeps): Promise<void> {
  const time = Date.now();
  const startedAt = performance.now();
  const trace = req.headers[TRACE_HEADER] === undefined ? undefined : deps.tracer.start(req, res, time);
  let call: PreparedCall;
  const routed: RoutedTo = {};
  try {
    call = await prepareCall(req, deps, time, startedAt, trace, routed);
  } catch (err) {
    trace?.refuse(err);
    if (!(err instanceof TokenmeterError)) throw err;
    deps.refusals.count(routed.api ?? '', err);
    sendError(res, err);
    return;
  }
  trace?.reach('forward');
  try {
    await forwardCall(req, res, call, deps);
  } finally {
    trace?.end();
  }
}

async function prepareCall(
  req: IncomingMessage,
  deps: ProxyDeps,
  time: number,
  startedAt: number,
  trace: CallTrace | undefined,
  routed: RoutedTo,
): Promise<PreparedCall> {
  const url = req.url ?? '/';
  const match = deps.router.match(url);
  if (match === undefined)
    throw new TokenmeterError('TM_NOT_FOUND', `No API is served at ${url.split('?')[0] ?? url}.`);
  routed.api = match.api.id;
  trace?.routed(match.api.id);
  trace?.reach('authenticate');
  // A key in the query string (Gemini's ?key=) is taken out before anything is forwarded or logged.
  const fromQuery = match.adapter.takeQueryCredential?.(match.subPath);
  const subPath = fromQuery?.subPath ?? match.subPath;
  const caller = await deps.callers.identify(req.headers, match.api, fromQuery?.key);
  trace?.identified(caller);
  trace?.reach('operation');
  const route = match.adapter.matchRoute(req.method ?? 'GET', subPath);
  if (route === undefined) {
    throw new TokenmeterError(
      'TM_NOT_FOUND',
      `Unknown operation ${req.method ?? 'GET'} ${subPath.split('?')[0] ?? ''} for API "${match.api.id}".`,
    );
  }
  trace?.operation(route.operation, route.metered);
  trace?.reach('ledger');
  // A call that could not be recorded durably is not forwarded (ledger.whenUnavailable).
  const refusal = route.metered ? deps.sink.refusal() : undefined;
  if (refusal !== undefined) throw refusal;
  // Before the body is read or anything forwarded: a used-up blocking budget costs the backend
  // nothing. Unmetered operations (count_tokens) cost no tokens and stay open.
  const overBudget = route.metered ? deps.budgets?.refusal(caller.subscription.id) : undefined;
  if (overBudget !== undefined) throw overBudget;
  trace?.reach('read-body');
  const raw = await readBody(req, deps.config.gateway.maxBodyBytes);
  const body = parseJsonBody(raw);
  const info = match.adapter.inspectRequest(route, body);
  trace?.reach('backend');
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
  trace?.forwarding(backend, backend.basePath + route.upstreamPath, prepared.stripUsageChunk);
  trace?.reach('dimensions');

  const resolved = resolveCallDimensions({
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
  trace?.dimensions(resolved);
  const { dimensions, custom, flags } = resolved;
  const meter = createCallMeter({
    time,
    startedAt,
    dimensions,
    custom,
    sink: deps.sink,
    nextId: deps.nextRecordId,
    costOf: (responseModel, usage, tokenDetails) =>
      deps.prices.costOf({
        backend: backend.id,
        subscription: dimensions.subscription,
        model: dimensions.model,
        responseModel,
        time,
        usage,
        tokenDetails,
      }),
    metered: route.metered,
    flags,
    onRecord: trace === undefined ? undefined : (record: UsageRecord) => trace.recorded(record),
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

async function forwardCall(
  req: IncomingMessage,
  res: ServerResponse,
  call: PreparedCall,
  deps: ProxyDeps,
): Promise<void> {
  const { backend, route } = call;
  const path = backend.basePath + route.upstreamPath;
  let headers = upstreamRequestHeaders(
    req.headers,
    backend.host,
    call.upstreamBody.length,
    backend.auth,
    backend.headerPolicy,
  );
  if (backend.signer !== undefined) {
    headers = await backend.signer.sign({
      method: 'POST',
      origin: backend.origin,
      path,
      headers,
      body: call.upstreamBody,
    });
  }
  return relayUpstream(
    backend.pool,
    { origin: backend.origin, method: 'POST', path, headers, body: call.upstreamBody },
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
