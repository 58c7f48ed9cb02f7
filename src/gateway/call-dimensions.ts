import type { IncomingMessage } from 'node:http';
import type { ApiConfig, Config, SubscriptionConfig } from '../config/schema.js';
import type { DimensionEvaluator } from '../dimensions/custom-dimensions.js';
import { capLedgerDimensions } from '../dimensions/value-cap.js';
import type { DefaultDimensions, RecordFlag } from '../ledger/record.js';
import type { RequestInfo, RouteMatch } from '../providers/types.js';
import type { Backend } from './backends.js';
import type { ClientIpResolver } from './client-ip.js';

/** What one call's dimensions are computed from. */
export interface CallFacts {
  req: IncomingMessage;
  url: string;
  api: ApiConfig;
  route: RouteMatch;
  info: RequestInfo;
  subscription: SubscriptionConfig;
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
export function resolveCallDimensions(facts: CallFacts): {
  dimensions: DefaultDimensions;
  custom: Record<string, string>;
  flags: RecordFlag[];
} {
  const { req, api, route, info, subscription, backend, gateway } = facts;
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
    // JWT validation is not built yet: no claims (custom dimensions over them read '').
    jwt: { claims: {} },
  });
  const capped = capLedgerDimensions(dimensions, custom);
  return {
    dimensions: capped.dimensions,
    custom: capped.custom,
    flags: capped.truncated ? ['dimension_truncated'] : [],
  };
}
