import type { UsageRecord } from '../ledger/record.js';

/**
 * The OpenTelemetry GenAI semantic conventions this gateway follows (semconv "Semantic
 * Conventions for Generative AI Metrics"): instrument names, units, the advisory bucket
 * boundaries, and the well-known values of `gen_ai.operation.name` and `gen_ai.provider.name`.
 */
export const GEN_AI = {
  tokenUsage: 'gen_ai.client.token.usage',
  operationDuration: 'gen_ai.client.operation.duration',
  operationName: 'gen_ai.operation.name',
  providerName: 'gen_ai.provider.name',
  requestModel: 'gen_ai.request.model',
  responseModel: 'gen_ai.response.model',
  tokenType: 'gen_ai.token.type',
  errorType: 'error.type',
} as const;

/** The conventions' ExplicitBucketBoundaries for gen_ai.client.token.usage ({token}). */
export const TOKEN_USAGE_BUCKETS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];

/** The conventions' ExplicitBucketBoundaries for gen_ai.client.operation.duration (s). */
export const OPERATION_DURATION_BUCKETS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/**
 * Our operation ids (providers/*\/routes.ts) to the conventions' `gen_ai.operation.name` values.
 * The Responses API and Anthropic's Messages are chat in the conventions' sense; Gemini's
 * generateContent is `generate_content`. An operation not listed keeps its own id (the
 * conventions allow custom values).
 */
const OPERATION_NAMES: Readonly<Record<string, string>> = {
  'chat.completions': 'chat',
  responses: 'chat',
  messages: 'chat',
  completions: 'text_completion',
  embeddings: 'embeddings',
  generateContent: 'generate_content',
  streamGenerateContent: 'generate_content',
};

/** Backend types (config) to the conventions' well-known `gen_ai.provider.name` values. */
const PROVIDER_NAMES: Readonly<Record<string, string>> = {
  openai: 'openai',
  'azure-openai': 'azure.ai.openai',
  anthropic: 'anthropic',
  gemini: 'gcp.gemini',
  bedrock: 'aws.bedrock',
  cohere: 'cohere',
  // Not a well-known value of the conventions: its own name, as they allow.
  ollama: 'ollama',
};

export function genAiOperationName(operation: string): string {
  return OPERATION_NAMES[operation] ?? operation;
}

export function genAiProviderName(provider: string | undefined): string {
  if (provider === undefined) return '_OTHER';
  return PROVIDER_NAMES[provider] ?? provider;
}

/**
 * `error.type` of a failed call: its HTTP status as a string (the conventions' choice for HTTP
 * failures), or `_OTHER` when no response could be had (status 0). Undefined for a success.
 */
export function genAiErrorType(record: Pick<UsageRecord, 'status'>): string | undefined {
  if (record.status >= 200 && record.status < 300) return undefined;
  return record.status === 0 ? '_OTHER' : String(record.status);
}
