import type { IncomingMessage } from 'node:http';
import type { Caller } from '../auth/caller.js';
import type { ApiConfig, Config } from '../config/schema.js';
import type { DimensionEvaluator, EvaluatedDimensions } from '../dimensions/custom-dimensions.js';
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
  /**
   * The query string of the sub-path once the API's query credential is taken out
   * (takeQueryCredential), for `request.query`; '' when none. Never `url`'s query, which may
   * still hold a key.
   */
  query: string;
  /** The parsed request body (`request.body` reads its top-level scalars, only if used). */
  body: unknown;
  api: ApiConfig;
  route: RouteMatch;
  info: RequestInfo;
  caller: Caller;
  backend: Backend;
  gateway: Config['gateway'];
  /** `users.header`: the header a User ID may come from. */
  users: Config['users'];
  clientIp: ClientIpResolver;
  customDimensions: DimensionEvaluator;
}

/** The User ID of a call and where it came from, in the order of precedence. */
interface ResolvedUser {
  user: string;
  source: string;
}

/**
 * The User ID: the API's `userClaim` of a verified JWT, else the `users.header` header, else
 * the body's user field as the adapter read it (OpenAI `user`, Anthropic `metadata.user_id`),
 * else none. An empty value counts as absent and the next source is asked.
 */
export function resolveUser(
  caller: Caller,
  headers: IncomingMessage['headers'],
  users: Config['users'],
  info: RequestInfo,
): ResolvedUser | undefined {
  const { jwt } = caller;
  if (jwt?.user !== undefined && jwt.user !== '' && jwt.userClaim !== undefined)
    return { user: jwt.user, source: `jwt:${jwt.userClaim}` };
  if (users.header !== undefined) {
    const value = headers[users.header];
    const text = Array.isArray(value) ? value.join(', ') : value;
    if (text !== undefined && text !== '') return { user: text, source: `header:${users.header}` };
  }
  if (info.user !== undefined && info.user !== '')
    return { user: info.user, source: `body:${info.userField ?? 'user'}` };
  return undefined;
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
  const address = facts.clientIp.locate(req);
  const resolvedUser = resolveUser(caller, req.headers, facts.users, info);
  const user = resolvedUser?.user;
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
    ...(user !== undefined ? { user } : {}),
    ...(address !== undefined ? { ip: address.ip } : {}),
    ...(info.model !== undefined ? { model: info.model } : {}),
  };
  // References only: the evaluator builds from them just what its expressions read (and
  // without custom dimensions nothing is built at all).
  const evaluated =
    facts.customDimensions.names.length === 0
      ? NO_CUSTOM_DIMENSIONS
      : evaluateCustom(facts, address?.ip, user);
  const capped = capLedgerDimensions(dimensions, evaluated.values);
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
  if (resolvedUser !== undefined) sources['user'] = resolvedUser.source;
  if (address !== undefined) sources['ip'] = address.source;
  if (info.model !== undefined) sources['model'] = route.pathModel !== undefined ? 'path' : 'body:model';
  for (const name of Object.keys(evaluated.values)) sources[name] = 'cel';
  for (const name of evaluated.defaulted) sources[name] = 'default';
  return {
    dimensions: capped.dimensions,
    custom: capped.custom,
    flags: capped.truncated ? ['dimension_truncated'] : [],
    sources,
  };
}

const NO_CUSTOM_DIMENSIONS: EvaluatedDimensions = Object.freeze({
  values: Object.freeze({}),
  defaulted: Object.freeze([]),
});

/** The custom dimensions of a call, over references to what the call already holds. */
function evaluateCustom(
  facts: CallFacts,
  ip: string | undefined,
  user: string | undefined,
): EvaluatedDimensions {
  const { req, info, route, caller } = facts;
  return facts.customDimensions.evaluate({
    request: {
      method: req.method ?? 'GET',
      // The path only: a query string may hold a credential (Gemini's ?key=).
      path: facts.url.split('?')[0] ?? facts.url,
      model: info.model,
      headers: req.headers,
      query: facts.query,
      body: facts.body,
      ip,
      stream: info.stream,
      user,
    },
    subscription: caller.subscription,
    api: facts.api,
    operation: { id: route.operation },
    route,
    backend: facts.backend,
    jwt: caller.jwt,
  });
}
