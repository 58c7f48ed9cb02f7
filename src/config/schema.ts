import { z } from 'zod';
import { parseDuration } from './duration.js';
import { parseIpRange } from './ip-range.js';
import { parsePriceDate } from '../pricing/price-date.js';
import { describeLedgerUrlProblem } from './ledger-location.js';
import { describeApiPathProblem, describeBackendUrlProblem } from './url-checks.js';
import { describeConnectionStringProblem } from '../sinks/connection-string.js';

/**
 * The YAML configuration contract (DESIGN.md, "Configuration"). Unknown keys are errors, so a
 * typo is reported with its path instead of being silently ignored.
 */

/** An id of the configuration (backend, api, product, subscription), also as the CLI takes one. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const id = z.string().regex(ID_PATTERN, 'must be letters, digits, ".", "_" or "-"');

export const BACKEND_TYPES = [
  'openai',
  'azure-openai',
  'anthropic',
  'gemini',
  'bedrock',
  'cohere',
  'ollama',
  'simulator',
] as const;
export const API_TYPES = [
  'openai',
  'azure-openai',
  'anthropic',
  'gemini',
  'bedrock',
  'cohere',
  'ollama',
] as const;

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
    /**
     * How often the gateway reloads managed subscription keys from the ledger database,
     * milliseconds: a create, revoke or rotation is honoured within this time (plus one reload).
     */
    keyRefreshMs: z.number().int().min(100).max(5000).default(1000),
    /**
     * On SIGTERM: how long in-flight calls (streams included) may take to finish once new
     * connections are refused, milliseconds; then the outbox is flushed and the process exits.
     */
    drainTimeoutMs: milliseconds.default(30_000),
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
    /**
     * AWS credentials a `bedrock` backend signs its calls with (SigV4). Each absent field falls
     * back to the standard environment variable (AWS_REGION / AWS_DEFAULT_REGION,
     * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). A bedrock backend with
     * `apiKey` sends that Bedrock API key as a Bearer token instead of signing.
     */
    aws: z
      .object({
        region: z.string().min(1).optional(),
        accessKeyId: z.string().min(1).optional(),
        secretAccessKey: z.string().min(1).optional(),
        sessionToken: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    /** Deployment name → model, for pricing (an Azure deployment's name says nothing of its model). */
    deployments: z.record(z.string().min(1), z.string().min(1)).default({}),
    /** A fixed monthly cost (provisioned capacity, PTU), split by tokens between subscriptions. */
    monthlyCost: z.number().nonnegative().optional(),
  })
  .strict()
  .refine((b) => b.type === 'simulator' || b.url !== undefined, {
    message: 'url is required for this backend type',
    path: ['url'],
  });

/** A non-empty string or a non-empty list of them (JWT `aud` / accepted issuers). */
const oneOrMore = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

/**
 * `apis[].auth.jwt`: a JWT every call to the API must carry in `Authorization: Bearer`
 * (verified with jose), on top of the subscription key. Exactly one of `jwksUrl` / `publicKey`.
 */
const jwtAuthSchema = z
  .object({
    /** Accepted `iss` value(s). */
    issuer: oneOrMore,
    /** Accepted `aud` value(s): the token's audience must contain one of them. */
    audience: oneOrMore,
    /** Where the identity provider publishes its signing keys (JWKS, RFC 7517). */
    jwksUrl: checkedString(describeBackendUrlProblem).optional(),
    /** One verification key instead of a JWKS: PEM (SPKI public key or X.509 certificate) or a JWK as JSON. */
    publicKey: z.string().min(1).optional(),
    /** The claim naming the end user (the User ID dimension), e.g. `oid` for Entra ID. */
    userClaim: z.string().min(1).optional(),
    /** false: a call without a token is served (no claims); a token sent must still be valid. */
    required: z.boolean().default(true),
    /** Tolerance for `exp` / `nbf` against this host's clock, seconds. */
    clockSkewSeconds: z.number().int().min(0).max(600).default(60),
  })
  .strict()
  .refine((jwt) => (jwt.jwksUrl === undefined) !== (jwt.publicKey === undefined), {
    message: 'give exactly one of jwksUrl or publicKey',
  });

const apiSchema = z
  .object({
    id,
    path: checkedString(describeApiPathProblem).transform((p) => (p.length > 1 ? p.replace(/\/+$/, '') : p)),
    type: z.enum(API_TYPES),
    backend: id,
    /** How callers of this API identify themselves beyond the subscription key. */
    auth: z.object({ jwt: jwtAuthSchema.optional() }).strict().optional(),
  })
  .strict();

const productSchema = z.object({ id, apis: z.array(id).min(1, 'must list at least one api') }).strict();

/** A `subscription.metadata` key (here and in `keys create --meta`): an identifier, so `subscription.metadata.team` reads it. */
export const METADATA_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const metadataKey = z.string().regex(METADATA_KEY_PATTERN, 'must be an identifier (letters, digits, "_")');

/**
 * `subscriptions[].budget`: a monthly limit (tokens, cost in `pricing.currency`, or both), the
 * percentages that alert once per month each, and whether calls are refused once it is used up.
 */
const budgetSchema = z
  .object({
    monthlyTokens: z.number().int().positive().optional(),
    monthlyCost: z.number().positive().optional(),
    alertAt: z.array(z.number().positive().max(1000)).default([50, 80, 100]),
    /** alert: only alerts; block: calls get 429 TM_BUDGET_EXCEEDED once the budget is used up. */
    onExceeded: z.enum(['alert', 'block']).default('alert'),
  })
  .strict()
  .refine((b) => b.monthlyTokens !== undefined || b.monthlyCost !== undefined, {
    message: 'give monthlyTokens, monthlyCost or both',
  });

const subscriptionSchema = z
  .object({
    id,
    key: z.string().min(8, 'must be at least 8 characters'),
    product: id,
    owner: z.string().optional(),
    costCenter: z.string().optional(),
    revoked: z.boolean().default(false),
    /** A free map the subscription carries (`subscription.metadata` in expressions). */
    metadata: z.record(metadataKey, z.string()).default({}),
    budget: budgetSchema.optional(),
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
        /** Used when the expression yields '' or fails at run time (default: ''). */
        default: z.string().optional(),
      })
      .strict(),
  ],
  { error: 'must be a dimension name or {name, value}' },
);

/**
 * Which calls an emitter counts, like the scope an APIM policy is applied at. Every key given
 * must match the call (a product, an API, an operation id such as `chat.completions`).
 */
const scopeSchema = z
  .object({ product: id.optional(), api: id.optional(), operation: z.string().min(1).optional() })
  .strict()
  .refine((scope) => Object.values(scope).some((v) => v !== undefined), {
    message: 'name at least one of product, api or operation',
  });

/** A duration such as `30m`, `1h`, `1d`, as milliseconds. */
const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined || ms > MAX_TIMER_MS) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration such as 90s, 30m, 1h or 1d (at most 24d)' });
    return z.NEVER;
  }
  return ms;
});

const tokenMetricSchema = z
  .object({
    namespace: z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'must be a valid Prometheus metric prefix'),
    dimensions: z.array(dimensionSchema).max(32).default([]),
    /** Count only the calls in this scope (absent: every call). */
    scope: scopeSchema.optional(),
    /** Distinct values a label keeps within the window; beyond, `__other__`. */
    maxValuesPerDimension: z.number().int().positive().max(1_000_000).default(1000),
    /** The rolling window distinct values are counted over (a value unseen for this long frees its slot). */
    cardinalityWindow: duration.default(3_600_000),
  })
  .strict();

/** A price per million tokens. */
const price = z.number().nonnegative().finite();

/**
 * `pricing.overrides[]`: an agreed price per million tokens, replacing the catalog's for the
 * model from `from` on (absent: from the beginning).
 */
const priceOverrideSchema = z
  .object({
    model: z.string().min(1),
    input: price,
    output: price,
    /** Input read from a prompt cache (default: the input price). */
    cachedInput: price.optional(),
    /** Input written to a prompt cache (default: the input price). */
    cacheWrite: price.optional(),
    from: checkedString((text) =>
      parsePriceDate(text) === undefined
        ? 'must be an ISO date (2026-01-01) or date-time with offset (2026-01-01T00:00:00Z)'
        : undefined,
    ).optional(),
  })
  .strict();

const pricingSchema = z
  .object({
    /** The currency of costs: the catalog's prices are USD, so another currency uses only overrides. */
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD or EUR')
      .default('USD'),
    overrides: z.array(priceOverrideSchema).default([]),
    /** Per subscription id: its cost is multiplied by `multiplier` (a negotiated discount or markup). */
    subscriptions: z.record(id, z.object({ multiplier: price }).strict()).default({}),
  })
  .strict();

/** The SMTP server reports and alerts are e-mailed through (nodemailer). */
const smtpSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(587),
    /** true: TLS from the start (port 465); false: STARTTLS when the server offers it. */
    secure: z.boolean().default(false),
    user: z.string().optional(),
    pass: z.string().optional(),
    /** The sender, e.g. `tokenmeter <chargeback@example.com>`. */
    from: z.string().min(1),
  })
  .strict();

/** An IANA time zone name Intl knows (e.g. Europe/Berlin). */
const timeZone = checkedString((name) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return undefined;
  } catch {
    return 'must be an IANA time zone name such as Europe/Berlin or UTC';
  }
});

/** Monthly chargeback reports: their time zone, where they are posted, and when they go out. */
const reportsSchema = z
  .object({
    /** Months start at midnight in this zone (default UTC). */
    timezone: timeZone.default('UTC'),
    /** `report --send` POSTs the month's JSON here. */
    webhook: checkedString(describeBackendUrlProblem).optional(),
    /** monthly: `serve` sends last month's reports on the 1st (once across gateways). */
    schedule: z.enum(['monthly']).optional(),
  })
  .strict();

/** Budget alerts: a POST to `webhook`, and an e-mail to the owner when `smtp` is configured. */
const alertsSchema = z
  .object({
    webhook: checkedString(describeBackendUrlProblem).optional(),
    /** E-mail the subscription's owner (needs `smtp`); default true. */
    email: z.boolean().default(true),
  })
  .strict();

/** sqlite:PATH or postgres://… */
const ledgerUrl = checkedString(describeLedgerUrlProblem);

/** `ledger: URL`, or the long form with the policy for a ledger that cannot write. */
const ledgerObject = z
  .object({
    url: ledgerUrl.default('sqlite:./tokenmeter.db'),
    /** serve: keep serving, records go to a fallback journal; refuse: 503 until the ledger writes. */
    whenUnavailable: z.enum(['serve', 'refuse']).default('serve'),
    /**
     * The local outbox directory (the journal every record is committed to before its response
     * ends). Default: `<ledger file>.outbox` beside an SQLite ledger, `./tokenmeter-outbox` for
     * PostgreSQL. Each gateway process needs its own outbox (or takes its own subdirectory).
     */
    outbox: z.string().min(1).optional(),
  })
  .strict();

/** OpenTelemetry metrics over OTLP (GenAI semantic conventions). */
const otlpSchema = z
  .object({
    /** The collector's metrics URL, e.g. http://otel-collector:4318/v1/metrics. */
    endpoint: checkedString(describeBackendUrlProblem),
    /** Sent with every export (e.g. an API key of a hosted collector). */
    headers: z.record(z.string().min(1), z.string()).default({}),
    /** Export period, milliseconds. */
    intervalMs: z.number().int().min(100).max(MAX_TIMER_MS).default(60_000),
    protocol: z.enum(['http/protobuf', 'http/json']).default('http/protobuf'),
  })
  .strict();

/** Azure Monitor / Application Insights, with APIM's metric names. */
const azureMonitorSchema = z
  .object({
    /** The Application Insights connection string (InstrumentationKey=…;IngestionEndpoint=…). */
    connectionString: checkedString(describeConnectionStringProblem),
  })
  .strict();

/** Metric sinks besides Prometheus's /metrics. */
const metricsSchema = z
  .object({
    otlp: otlpSchema.optional(),
    azureMonitor: azureMonitorSchema.optional(),
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
    /** Where the User ID comes from besides a JWT's userClaim and the body (see "Who is calling"). */
    users: z
      .object({ header: z.string().min(1).toLowerCase().optional() })
      .strict()
      .default({}),
    tokenMetrics: z.array(tokenMetricSchema).default([]),
    pricing: pricingSchema.default(pricingSchema.parse({})),
    smtp: smtpSchema.optional(),
    reports: reportsSchema.default(reportsSchema.parse({})),
    alerts: alertsSchema.default(alertsSchema.parse({})),
    metrics: metricsSchema.default({}),
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
    ...(typeof ledger !== 'string' && ledger.outbox !== undefined ? { outbox: ledger.outbox } : {}),
  },
}));

export type Config = z.infer<typeof configSchema>;
export type BackendConfig = Config['backends'][number];
export type ApiConfig = Config['apis'][number];
export type SubscriptionConfig = Config['subscriptions'][number];
export type TokenMetricConfig = Config['tokenMetrics'][number];
export type DimensionConfig = TokenMetricConfig['dimensions'][number];
export type JwtAuthConfig = NonNullable<NonNullable<ApiConfig['auth']>['jwt']>;
export type PricingConfig = Config['pricing'];
export type BudgetConfig = NonNullable<SubscriptionConfig['budget']>;
export type SmtpConfig = NonNullable<Config['smtp']>;
export type ReportsConfig = Config['reports'];
export type AlertsConfig = Config['alerts'];
export type PriceOverrideConfig = PricingConfig['overrides'][number];
export type MetricsConfig = Config['metrics'];
export type OtlpConfig = NonNullable<MetricsConfig['otlp']>;
export type AzureMonitorConfig = NonNullable<MetricsConfig['azureMonitor']>;
export type MetricScope = NonNullable<TokenMetricConfig['scope']>;
