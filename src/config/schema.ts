import { z } from 'zod';
import { parseIpRange } from './ip-range.js';
import { describeLedgerUrlProblem } from './ledger-location.js';
import { describeApiPathProblem, describeBackendUrlProblem } from './url-checks.js';

/**
 * The YAML configuration contract (DESIGN.md, "Configuration"). Unknown keys are errors, so a
 * typo is reported with its path instead of being silently ignored.
 */

const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be letters, digits, ".", "_" or "-"');

export const BACKEND_TYPES = ['openai', 'azure-openai', 'anthropic', 'gemini', 'simulator'] as const;
export const API_TYPES = ['openai', 'azure-openai', 'anthropic', 'gemini'] as const;

/** A string whose problems a `describe` function names (undefined: none). */
const checkedString = (describe: (value: string) => string | undefined) =>
  z.string().superRefine((value, ctx) => {
    const problem = describe(value);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });

/** Node's timers overflow above 2^31-1 ms (and then fire at once). */
const MAX_TIMER_MS = 2_147_483_647;
const milliseconds = z.number().int().positive().max(MAX_TIMER_MS);

const gatewaySchema = z
  .object({
    id: z.string().min(1).default('gateway-1'),
    location: z.string().min(1).default('local'),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8080),
    trustedProxies: z
      .array(
        checkedString((entry) => {
          const parsed = parseIpRange(entry);
          return 'error' in parsed ? parsed.error : undefined;
        }),
      )
      .default([]),
    /** Largest client request body accepted, bytes; larger bodies get 413. */
    maxBodyBytes: z
      .number()
      .int()
      .positive()
      .default(10 * 1024 * 1024),
    /** Upstream response headers timeout, milliseconds. */
    upstreamTimeoutMs: milliseconds.default(300_000),
    /** Largest single stream event read for usage, bytes; larger ones are skipped and flagged. */
    maxEventBytes: z
      .number()
      .int()
      .positive()
      .default(64 * 1024 * 1024),
    /** Time a client has to send its whole request (headers and body), milliseconds. */
    requestTimeoutMs: milliseconds.default(30_000),
    /**
     * Time a client has to send its request headers, milliseconds; at most requestTimeoutMs.
     * Default 10 s, or requestTimeoutMs when that is shorter.
     */
    headersTimeoutMs: milliseconds.optional(),
    /** How long an idle keep-alive client connection is kept open, milliseconds. */
    keepAliveTimeoutMs: milliseconds.default(65_000),
    /** Client connections served at once; more are refused at accept. */
    maxConnections: z.number().int().positive().default(10_000),
  })
  .strict()
  .superRefine((gateway, ctx) => {
    // Node refuses a server whose headers timeout exceeds its request timeout (ERR_OUT_OF_RANGE):
    // the whole request cannot take less time than its headers.
    if (gateway.headersTimeoutMs !== undefined && gateway.headersTimeoutMs > gateway.requestTimeoutMs)
      ctx.addIssue({
        code: 'custom',
        path: ['headersTimeoutMs'],
        message: `must not exceed gateway.requestTimeoutMs (${gateway.requestTimeoutMs}): the headers are part of the request`,
      });
  })
  .transform(({ headersTimeoutMs, ...gateway }) => ({
    ...gateway,
    headersTimeoutMs: headersTimeoutMs ?? Math.min(10_000, gateway.requestTimeoutMs),
  }));

const simulatorOptions = z
  .object({
    /** Generated tokens per second (0 = as fast as possible). */
    tokensPerSecond: z.number().min(0).default(0),
    /** Completion tokens per answer. */
    completionTokens: z.number().int().positive().default(24),
  })
  .strict();

const backendSchema = z
  .object({
    id,
    type: z.enum(BACKEND_TYPES),
    url: checkedString(describeBackendUrlProblem).optional(),
    apiKey: z.string().optional(),
    /** inject: ask OpenAI-compatible servers for stream usage; never: estimate instead. */
    streamUsage: z.enum(['inject', 'never']).default('inject'),
    /** Client headers forwarded although the default policy drops them (e.g. openai-organization). */
    forwardHeaders: z.array(z.string().min(1)).default([]),
    /** Client headers dropped on top of the default policy. */
    dropHeaders: z.array(z.string().min(1)).default([]),
    simulator: simulatorOptions.optional(),
  })
  .strict()
  .refine((b) => b.type === 'simulator' || b.url !== undefined, {
    message: 'url is required for this backend type',
    path: ['url'],
  });

const apiSchema = z
  .object({
    id,
    path: checkedString(describeApiPathProblem).transform((p) => (p.length > 1 ? p.replace(/\/+$/, '') : p)),
    type: z.enum(API_TYPES),
    backend: id,
  })
  .strict();

const productSchema = z.object({ id, apis: z.array(id).min(1, 'must list at least one api') }).strict();

const subscriptionSchema = z
  .object({
    id,
    key: z.string().min(8, 'must be at least 8 characters'),
    product: id,
    owner: z.string().optional(),
    costCenter: z.string().optional(),
    revoked: z.boolean().default(false),
  })
  .strict();

/** A default dimension by name (canonical key or APIM alias), or a custom `{name, value}` CEL dimension. */
const dimensionSchema = z.union(
  [
    z.string().min(1),
    z
      .object({
        name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an identifier (letters, digits, "_")'),
        value: z.string().min(1),
      })
      .strict(),
  ],
  { error: 'must be a dimension name or {name, value}' },
);

const tokenMetricSchema = z
  .object({
    namespace: z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'must be a valid Prometheus metric prefix'),
    dimensions: z.array(dimensionSchema).max(32).default([]),
  })
  .strict();

/** Only SQLite for now: the PostgreSQL ledger is in the contract but not implemented. */
const ledgerUrl = checkedString(describeLedgerUrlProblem);

/** `ledger: URL`, or the long form with the policy for a ledger that cannot write. */
const ledgerObject = z
  .object({
    url: ledgerUrl.default('sqlite:./tokenmeter.db'),
    /** serve: keep serving, records go to a fallback journal; refuse: 503 until the ledger writes. */
    whenUnavailable: z.enum(['serve', 'refuse']).default('serve'),
  })
  .strict();

const configObject = z
  .object({
    gateway: gatewaySchema.default(gatewaySchema.parse({})),
    ledger: z.union([ledgerUrl, ledgerObject]).default('sqlite:./tokenmeter.db'),
    admin: z
      .object({ key: z.string().min(8).optional() })
      .strict()
      .default({}),
    backends: z.array(backendSchema).min(1, 'must list at least one backend'),
    apis: z.array(apiSchema).min(1, 'must list at least one api'),
    products: z.array(productSchema).default([]),
    subscriptions: z.array(subscriptionSchema).default([]),
    tokenMetrics: z.array(tokenMetricSchema).default([]),
  })
  .strict();

/**
 * The configuration as the gateway uses it: `ledger` is always the URL, and the long form's
 * policy is `ledgerPolicy`.
 */
export const configSchema = configObject.transform(({ ledger, ...rest }) => ({
  ...rest,
  ledger: typeof ledger === 'string' ? ledger : ledger.url,
  ledgerPolicy: {
    whenUnavailable: typeof ledger === 'string' ? ('serve' as const) : ledger.whenUnavailable,
  },
}));

export type Config = z.infer<typeof configSchema>;
export type BackendConfig = Config['backends'][number];
export type ApiConfig = Config['apis'][number];
export type SubscriptionConfig = Config['subscriptions'][number];
export type TokenMetricConfig = Config['tokenMetrics'][number];
export type DimensionConfig = TokenMetricConfig['dimensions'][number];
