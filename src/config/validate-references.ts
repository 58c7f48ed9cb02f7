import { describePublicKeyProblem } from '../auth/verification-key.js';
import { canonicalDimensionKey } from '../dimensions/dimension-names.js';
import { compileDimensionExpression, createDimensionEnvironment } from '../dimensions/custom-dimensions.js';
import { DEFAULT_DIMENSION_KEYS, type DefaultDimensionKey } from '../ledger/record.js';
import { getProviderAdapter } from '../providers/registry.js';
import { parsePriceDate } from '../pricing/price-date.js';
import type { ConfigPath } from './interpolate.js';
import type { Config, MetricScope } from './schema.js';

/** A consistency problem between parts of a schema-valid configuration. */
export interface ReferenceIssue {
  /** Path of the offending value, e.g. `['apis', 1, 'backend']`. */
  path: ConfigPath;
  message: string;
}

/** Paths the gateway serves itself (metrics, admin API, dashboard): no API may claim them. */
function reservedPathReason(path: string): string | undefined {
  if (path === '/metrics' || path.startsWith('/metrics/'))
    return '/metrics is reserved for the Prometheus endpoint';
  if (path.startsWith('/admin')) return 'paths starting with /admin are reserved for the admin API';
  if (path.startsWith('/dashboard')) return 'paths starting with /dashboard are reserved for the dashboard';
  if (path === '/api' || path.startsWith('/api/'))
    return '/api is reserved for the dashboard query API (/api/usage, /api/dimensions, /api/report)';
  return undefined;
}

/** True when `inner` is `outer` or lies below it segment-wise (`/a` contains `/a/b`, not `/ab`). */
function isNested(outer: string, inner: string): boolean {
  if (outer === inner || outer === '/') return true;
  return inner.startsWith(`${outer}/`);
}

/**
 * Checks what the schema cannot see alone: unique ids, references between sections, unique
 * subscription keys (distinct from the admin key), API paths that do not shadow each other or
 * the gateway's own endpoints, JWT public keys that load, and tokenMetrics entries (known
 * dimension names, compilable CEL, scopes that name a configured product / API and an operation
 * some API in scope meters), and pricing (multipliers of configured subscriptions, one
 * override per model and date).
 * Returns every issue found, located by path; messages never repeat a key's value.
 */
export function validateReferences(config: Config): ReferenceIssue[] {
  const issues: ReferenceIssue[] = [];
  const add = (path: ConfigPath, message: string): void => {
    issues.push({ path, message });
  };

  const sections = ['backends', 'apis', 'products', 'subscriptions'] as const;
  for (const section of sections) {
    const first = new Map<string, number>();
    config[section].forEach((item, index) => {
      const earlier = first.get(item.id);
      if (earlier === undefined) first.set(item.id, index);
      else add([section, index, 'id'], `duplicate id "${item.id}" (also ${section}[${earlier}])`);
    });
  }

  const backendIds = new Set(config.backends.map((b) => b.id));
  const apiIds = new Set(config.apis.map((a) => a.id));
  const productIds = new Set(config.products.map((p) => p.id));

  config.apis.forEach((api, index) => {
    if (!backendIds.has(api.backend)) add(['apis', index, 'backend'], `unknown backend "${api.backend}"`);
    const reserved = reservedPathReason(api.path);
    if (reserved !== undefined) add(['apis', index, 'path'], reserved);
    const publicKey = api.auth?.jwt?.publicKey;
    const keyProblem = publicKey === undefined ? undefined : describePublicKeyProblem(publicKey);
    if (keyProblem !== undefined) add(['apis', index, 'auth', 'jwt', 'publicKey'], keyProblem);
    for (let other = 0; other < index; other += 1) {
      const earlier = config.apis[other];
      if (earlier === undefined) continue;
      if (earlier.path === api.path) {
        add(['apis', index, 'path'], `duplicate path "${api.path}" (also apis[${other}], "${earlier.id}")`);
      } else if (isNested(earlier.path, api.path) || isNested(api.path, earlier.path)) {
        add(
          ['apis', index, 'path'],
          `path "${api.path}" overlaps "${earlier.path}" of apis[${other}] ("${earlier.id}")`,
        );
      }
    }
  });

  config.products.forEach((product, index) => {
    product.apis.forEach((apiId, i) => {
      if (!apiIds.has(apiId)) add(['products', index, 'apis', i], `unknown api "${apiId}"`);
    });
  });

  const keyOwner = new Map<string, string>();
  config.subscriptions.forEach((sub, index) => {
    if (!productIds.has(sub.product))
      add(['subscriptions', index, 'product'], `unknown product "${sub.product}"`);
    if (config.admin.key !== undefined && sub.key === config.admin.key) {
      add(['subscriptions', index, 'key'], 'must differ from admin.key');
    }
    const owner = keyOwner.get(sub.key);
    if (owner === undefined) keyOwner.set(sub.key, sub.id);
    else add(['subscriptions', index, 'key'], `same key as subscription "${owner}"`);
  });

  issues.push(...validatePricing(config));
  issues.push(...validateTokenMetrics(config));
  config.tokenMetrics.forEach((metric, m) => {
    if (metric.scope !== undefined) issues.push(...validateScope(config, metric.scope, m));
  });
  return issues;
}

/**
 * A scope must be able to match a call: its product and API exist (and the API is in the
 * product), and its operation is one the adapters of the APIs in scope meter.
 */
function validateScope(config: Config, scope: MetricScope, m: number): ReferenceIssue[] {
  const issues: ReferenceIssue[] = [];
  const path = (key: keyof MetricScope): ConfigPath => ['tokenMetrics', m, 'scope', key];
  const product =
    scope.product === undefined ? undefined : config.products.find((p) => p.id === scope.product);
  const api = scope.api === undefined ? undefined : config.apis.find((a) => a.id === scope.api);
  if (scope.product !== undefined && product === undefined)
    issues.push({
      path: path('product'),
      message: `unknown product "${scope.product}": expected one of ${listOf(config.products.map((p) => p.id))}`,
    });
  if (scope.api !== undefined && api === undefined)
    issues.push({
      path: path('api'),
      message: `unknown api "${scope.api}": expected one of ${listOf(config.apis.map((a) => a.id))}`,
    });
  if (api !== undefined && product !== undefined && !product.apis.includes(api.id))
    issues.push({
      path: path('api'),
      message: `api "${api.id}" is not in product "${product.id}": the scope matches no call`,
    });
  if (scope.operation === undefined || issues.length > 0) return issues;
  // The APIs whose calls the scope can see: the one named, else the product's, else all.
  const inScope =
    api !== undefined
      ? [api]
      : product !== undefined
        ? config.apis.filter((a) => product.apis.includes(a.id))
        : config.apis;
  const operations = [...new Set(inScope.flatMap((a) => getProviderAdapter(a.type)?.operations ?? []))];
  if (!operations.includes(scope.operation))
    issues.push({
      path: path('operation'),
      message: `unknown operation "${scope.operation}": the APIs in scope meter ${listOf(operations)}`,
    });
  return issues;
}

/**
 * `pricing`: multipliers name configured subscriptions, and a model has at most one override
 * per `from` (two prices in force at once would leave the one that applies to chance).
 */
function validatePricing(config: Config): ReferenceIssue[] {
  const issues: ReferenceIssue[] = [];
  const subscriptionIds = new Set(config.subscriptions.map((s) => s.id));
  for (const id of Object.keys(config.pricing.subscriptions)) {
    if (!subscriptionIds.has(id))
      issues.push({
        path: ['pricing', 'subscriptions', id],
        message: `unknown subscription "${id}": expected one of ${listOf([...subscriptionIds])}`,
      });
  }
  const seen = new Map<string, number>();
  config.pricing.overrides.forEach((override, index) => {
    const from = override.from === undefined ? undefined : parsePriceDate(override.from);
    const key = JSON.stringify([override.model, from ?? null]);
    const earlier = seen.get(key);
    if (earlier === undefined) seen.set(key, index);
    else
      issues.push({
        path: ['pricing', 'overrides', index, override.from === undefined ? 'model' : 'from'],
        message: `duplicate price for "${override.model}" ${override.from === undefined ? 'without from' : `from ${override.from}`} (also pricing.overrides[${earlier}])`,
      });
  });
  return issues;
}

/** `a, b, c` for a message (or `none` when empty). */
function listOf(items: readonly string[]): string {
  return items.length === 0 ? 'none' : items.join(', ');
}

/**
 * A custom dimension may carry a default dimension's name only when its expression is that
 * dimension spelled in CEL (DESIGN.md's example has `{name: model, value: request.model}`):
 * the values are then the same, and nothing is ambiguous.
 */
const SAME_AS_DEFAULT: Partial<Record<DefaultDimensionKey, string>> = {
  api: 'api.id',
  product: 'subscription.product',
  user: 'request.user',
  subscription: 'subscription.id',
  ip: 'request.ip',
  backend: 'backend.id',
  model: 'request.model',
  provider: 'backend.type',
  stream: 'request.stream',
};

function validateTokenMetrics(config: Config): ReferenceIssue[] {
  const issues: ReferenceIssue[] = [];
  if (config.tokenMetrics.length === 0) return issues;
  const env = createDimensionEnvironment();
  const customExpressions = new Map<string, string>();
  const namespaces = new Map<string, number>();
  config.tokenMetrics.forEach((metric, m) => {
    const earlierNamespace = namespaces.get(metric.namespace);
    if (earlierNamespace === undefined) namespaces.set(metric.namespace, m);
    else {
      issues.push({
        path: ['tokenMetrics', m, 'namespace'],
        message: `duplicate namespace "${metric.namespace}" (also tokenMetrics[${earlierNamespace}]): metric names would clash`,
      });
    }
    const names = new Set<string>();
    metric.dimensions.forEach((dimension, d) => {
      const path: ConfigPath = ['tokenMetrics', m, 'dimensions', d];
      if (typeof dimension === 'string') {
        const key = canonicalDimensionKey(dimension);
        if (key === undefined) {
          issues.push({
            path,
            message: `unknown dimension "${dimension}": expected one of ${DEFAULT_DIMENSION_KEYS.join(', ')} or an APIM name such as "API ID", or {name, value} for a custom dimension`,
          });
        } else if (names.has(key)) issues.push({ path, message: `dimension "${dimension}" listed twice` });
        else names.add(key);
        return;
      }
      const clash = canonicalDimensionKey(dimension.name);
      if (clash !== undefined && SAME_AS_DEFAULT[clash] !== dimension.value.replace(/\s+/g, '')) {
        issues.push({
          path: [...path, 'name'],
          message: `"${dimension.name}" is a default dimension (${clash}); list it by name instead, or pick another name`,
        });
        return;
      }
      const key = clash ?? dimension.name;
      if (names.has(key))
        issues.push({ path: [...path, 'name'], message: `dimension "${dimension.name}" listed twice` });
      names.add(key);
      const compiled = compileDimensionExpression(env, dimension.value);
      if ('error' in compiled) {
        issues.push({ path: [...path, 'value'], message: compiled.error });
        return;
      }
      const earlier = customExpressions.get(dimension.name);
      if (earlier === undefined) customExpressions.set(dimension.name, dimension.value);
      else if (earlier !== dimension.value) {
        issues.push({
          path: [...path, 'value'],
          message: `custom dimension "${dimension.name}" has another expression in an earlier tokenMetrics entry`,
        });
      }
    });
  });
  return issues;
}
