import type { TokenDetails, TokenUsage, UsageSource } from '../usage.js';

/**
 * Why a record is not quite what the call looked like on the wire. A flagged record is still
 * billed; the flag says what the gateway had to do to bill it, and each flag is counted in
 * `/metrics` (see metrics/record-flag-counters.ts).
 */
export const RECORD_FLAGS = [
  /** A dimension value was longer than the ledger keeps (MAX_LEDGER_VALUE_CHARS) and was cut. */
  'dimension_truncated',
  /** The provider sent counts that are not sane token counts (negative, fractional, absurd): ignored. */
  'usage_invalid',
  /** A successful answer whose usage could not be read (no usage, undecodable, mislabelled). */
  'usage_unreadable',
  /** A stream event was larger than gateway.maxEventBytes and could not be read. */
  'event_too_large',
  /**
   * The model's own counts (in its answer body) and the provider's billed counts (Bedrock's
   * token-count headers or invocation metrics) disagreed: the billed counts were recorded.
   */
  'billed_counts_differ',
] as const;

export type RecordFlag = (typeof RECORD_FLAGS)[number];

/** The default dimensions every record carries (DESIGN.md, canonical keys). */
export interface DefaultDimensions {
  /** API ID */
  api: string;
  /** Operation ID: chat.completions, completions, embeddings, responses, … */
  operation: string;
  /** Product ID */
  product?: string;
  /** User ID: the body `user` field when the client sent one. */
  user?: string;
  /** Subscription ID */
  subscription?: string;
  /** Client IP address (X-Forwarded-For only from trusted proxies). */
  ip?: string;
  /** Gateway location */
  location?: string;
  /** Gateway ID */
  gateway?: string;
  /** The backend that actually served the call. */
  backend?: string;
  /** The model the client asked for (body model, Azure deployment, Gemini path model). */
  model?: string;
  /** The model the provider says answered. */
  responseModel?: string;
  /** The provider type of the backend (openai, azure-openai, …). */
  provider?: string;
  /** Whether the call was streamed. */
  stream: boolean;
}

export const DEFAULT_DIMENSION_KEYS = [
  'api',
  'operation',
  'product',
  'user',
  'subscription',
  'ip',
  'location',
  'gateway',
  'backend',
  'model',
  'responseModel',
  'provider',
  'stream',
] as const satisfies readonly (keyof DefaultDimensions)[];

export type DefaultDimensionKey = (typeof DEFAULT_DIMENSION_KEYS)[number];

/**
 * One metered call. Written to the ledger before the last byte of the response reaches the
 * client; the token counts keep "not reported" (undefined) apart from 0.
 */
export interface UsageRecord extends DefaultDimensions, TokenUsage {
  /** Unique id (idempotency key for shipping). */
  id: string;
  /** When the call arrived, epoch milliseconds. */
  time: number;
  /** Custom dimension values by name (from tokenMetrics CEL expressions). */
  custom: Record<string, string>;
  /** How the counts were obtained. */
  source: UsageSource;
  /** HTTP status returned to the client (0 when no response could be had). */
  status: number;
  /** Wall time from the request's arrival to the end of the response, milliseconds. */
  latencyMs: number;
  /** The provider's request id (x-request-id / apim-request-id / request-id), when sent. */
  upstreamRequestId?: string;
  /** Cost in USD from the price catalog, when the model's price is known. */
  cost?: number;
  /**
   * The cost the provider itself reported for the call (OpenRouter's `usage.cost`), as it
   * reported it; kept beside the catalog `cost`, never replacing it.
   */
  providerCost?: number;
  /** How the counts divide by modality (audio, image), where the provider said so. */
  tokenDetails?: TokenDetails;
  /** What the gateway had to do to bill this call (absent or empty: nothing). */
  flags?: RecordFlag[];
}
