// What the "compute dimensions" stage costs per call (src/gateway/call-dimensions.ts), in µs:
// the default dimensions and User ID alone, then with 5 custom CEL dimensions of the kinds the
// README's recipes use (a header, a JWT claim, subscription fields, config ids, a header with a
// fallback), then with 5 over issue #8's context (request.query, request.body, route.params,
// subscription.metadata, operation.id). Best of 7 rounds; the request is a typical SDK call
// (10 headers, a chat body with a 64 KiB message that no expression reads).
// Run: node --import tsx bench/dimension-bench.ts
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { configSchema, type DimensionConfig } from '../src/config/schema.js';
import { createDimensionEvaluator } from '../src/dimensions/custom-dimensions.js';
import type { Backend } from '../src/gateway/backends.js';
import { resolveCallDimensions, type CallFacts } from '../src/gateway/call-dimensions.js';
import { createClientIpResolver } from '../src/gateway/client-ip.js';

const config = configSchema.parse({
  backends: [{ id: 'aoai', type: 'simulator' }],
  apis: [{ id: 'azure', path: '/azure', type: 'azure-openai', backend: 'aoai' }],
  users: { header: 'x-user-id' },
});

const TYPICAL: DimensionConfig[] = [
  { name: 'team', value: "request.headers['x-team']" },
  { name: 'appId', value: 'jwt.claims.appid' },
  { name: 'cc', value: 'subscription.costCenter' },
  { name: 'route', value: "api.id + ':' + backend.type" },
  {
    name: 'tier',
    value: "'x-tier' in request.headers ? request.headers['x-tier'] : 'none'",
    default: 'none',
  },
];

const NEW_CONTEXT: DimensionConfig[] = [
  { name: 'version', value: "request.query['api-version']", default: '-' },
  { name: 'temperature', value: 'string(request.body.temperature)', default: 'unset' },
  { name: 'deployment', value: 'route.params.deployment' },
  { name: 'team', value: 'subscription.metadata.team' },
  { name: 'op', value: 'operation.id' },
];

const url = '/azure/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21';
const req = {
  method: 'POST',
  url,
  headers: {
    host: '127.0.0.1:8080',
    'content-type': 'application/json',
    'content-length': '65600',
    'api-key': 'k',
    'user-agent': 'AzureOpenAI/JS 4.0',
    accept: 'application/json',
    'x-team': 'blue',
    'x-user-id': 'alice',
    'x-stainless-os': 'Linux',
    connection: 'keep-alive',
  },
  socket: { remoteAddress: '127.0.0.1' },
} as unknown as IncomingMessage;

function facts(dimensions: DimensionConfig[]): CallFacts {
  return {
    req,
    url,
    query: '?api-version=2024-10-21',
    body: { temperature: 0.2, max_tokens: 100, messages: [{ role: 'user', content: 'x'.repeat(65_536) }] },
    api: config.apis[0] as CallFacts['api'],
    route: {
      operation: 'chat.completions',
      metered: true,
      pathModel: 'gpt4o-prod',
      params: { deployment: 'gpt4o-prod' },
      upstreamPath: url.slice('/azure'.length),
    },
    info: { model: 'gpt4o-prod', stream: false, clientWantsStreamUsage: false },
    caller: {
      subscription: { id: 'team-a', product: 'std', costCenter: 'CC-1', metadata: { team: 'payments' } },
      credential: { kind: 'config-key' },
      jwt: { claims: { appid: 'app-1', oid: 'u-1' }, userClaim: 'oid', user: 'u-1' },
    },
    backend: { id: 'aoai', type: 'azure-openai' } as unknown as Backend,
    gateway: config.gateway,
    users: config.users,
    clientIp: createClientIpResolver([]),
    customDimensions: createDimensionEvaluator(dimensions),
  };
}

/** Microseconds per call of `run`, best of seven rounds of `n` calls. */
function usPerCall(n: number, run: () => unknown): number {
  let best = Infinity;
  for (let round = 0; round < 7; round++) {
    const start = performance.now();
    for (let i = 0; i < n; i++) run();
    best = Math.min(best, ((performance.now() - start) * 1e3) / n);
  }
  return best;
}

for (const [label, dimensions] of [
  ['no custom dimensions', []],
  ['5 typical CEL dimensions', TYPICAL],
  ['5 CEL dimensions, new context', NEW_CONTEXT],
] as const) {
  const call = facts([...dimensions]);
  console.log(`${label.padEnd(32)} ${usPerCall(50_000, () => resolveCallDimensions(call)).toFixed(2)} µs`);
}
