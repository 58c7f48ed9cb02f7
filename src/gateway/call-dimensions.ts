import type { IncomingMessage } from 'node:http';
import type { Caller } from '../auth/caller.js';
import type { ApiConfig, Config } from '../config/schema.js';
import type { DimensionEvaluator } from '../dimensions/custom-dimensions.js';
import { capLedgerDimensions } from '../dimensions/value-cap.js';
import type { DefaultDimensions, RecordFlag } from '../ledger/record.js';
import type { RequestInfo, RouteMatch } from '../providers/types.js';
import type { Backend } from './backends.js';
import type { ClientIpResolver } from './client-ip.js';

/**
 * Where a dimension's value came from, for the call trace: `config` (the configuration:
 * api, operation, product, gateway, location, backend, provider), `config-key` /
 * `managed-key:<id>` (the subscription), `body:<field>`, `path` (Azure deployment, Gemini model),
 * `header:<name>`, `jwt:<claim>`, `peer` / `x-forwarded-for` (ip), `cel` / `default` (custom).
 */
export type DimensionSources = Record<string, string>;

/** The dimensions of one call, with their provenance and the flags they raised. */
export interface ResolvedDimensions {
  dimensions: DefaultDimensions;
  custom: Record<string, string>;
  flags: RecordFlag[];
  /** Per dimension with a value (default keys and custom names): where it came from. */
  sources: DimensionSources;
}

/** What one call's dimensions are computed from. */
export interface CallFacts {
  req: IncomingMessage;
  url: string;
  api: ApiConfig;
  route: RouteMatch;
  info: RequestInfo;
  caller: Caller;
  backend: Backend;
  gateway: Config['gateway'];
  clientIp: ClientIpResolver;
  customDimensions: DimensionEvaluator;
}

/**
 * The "compute dimensions" stage (DESIGN.md): the default dimensions every record carries
 * (absent values stay absent) and the custom ones, evaluated as CEL over the request.
 * Every value is capped to what the ledger keeps (MAX_LEDGER_VALUE_CHARS, 1024 characters):
 * a longer one is cut with a `…[+N chars]` marker and `flags` holds `dimension_truncated`.
 * (The responseModel, known only at the end of the call, is capped by the call meter.)
 */
export function resolveCallDimensions(facts: CallFacts): ResolvedDimensions {
  const { req, api, route, info, caller, backend, gateway } = facts;
  const { subscription } = caller;
  const ip = facts.clientIp.resolve(req);
  const dimensions: DefaultDimensions = {
    api: api.id,
    operation: route.operation,
    product: subscription.product,
    subscription: subscription.id,
    location: gateway.location,
    gateway: gateway.id,
    backend: backend.id,
    provider: backend.type,
    stream: info.stream,
    ...(info.user !== undefined ? { user: info.user } : {}),
    ...(ip !== undefined ? { ip } : {}),
    ...(info.model !== undefined ? { model: info.model } : {}),
  };
  const custom = facts.customDimensions.evaluate({
    request: {
      method: req.method ?? 'GET',
      // The path only: a query string may hold a credential (Gemini's ?key=).
      path: facts.url.split('?')[0] ?? facts.url,
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
    api: { id: api.id },
    backend: { id: backend.id, type: backend.type },
    jwt: { claims: caller.jwt?.claims ?? {} },
  });
  const capped = capLedgerDimensions(dimensions, custom);
  const credential =
    caller.credential.kind === 'managed-key' ? `managed-key:${caller.credential.keyId}` : 'config-key';
  const sources: DimensionSources = {
    api: 'config',
    operation: 'config',
    product: credential,
    subscription: credential,
    location: 'config',
    gateway: 'config',
    backend: 'config',
    provider: 'config',
    stream: 'body:stream',
  };
  if (info.user !== undefined) sources['user'] = 'body';
  if (ip !== undefined) sources['ip'] = 'peer';
  if (info.model !== undefined) sources['model'] = route.pathModel !== undefined ? 'path' : 'body:model';
  for (const name of Object.keys(custom)) sources[name] = 'cel';
  return {
    dimensions: capped.dimensions,
    custom: capped.custom,
    flags: capped.truncated ? ['dimension_truncated'] : [],
    sources,
  };
}
