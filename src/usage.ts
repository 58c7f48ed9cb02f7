/**
 * Normalised token usage, one meaning for every provider (DESIGN.md, "Token accounting").
 * A field that is absent means "not reported by the provider" — never an invented 0.
 */
export interface TokenUsage {
  /** All input tokens, cached and cache-written included. */
  promptTokens?: number;
  /** All output tokens, reasoning included. */
  completionTokens?: number;
  /** prompt + completion (as reported, or derived when the provider reports no total). */
  totalTokens?: number;
  /** Input read from a prompt cache. */
  cachedTokens?: number;
  /** Input written to a prompt cache. */
  cacheWriteTokens?: number;
  /** Hidden reasoning / thinking output (already inside completionTokens). */
  reasoningTokens?: number;
}

export const USAGE_FIELDS = [
  'promptTokens',
  'completionTokens',
  'totalTokens',
  'cachedTokens',
  'cacheWriteTokens',
  'reasoningTokens',
] as const satisfies readonly (keyof TokenUsage)[];

/** How a record's counts were obtained. */
export type UsageSource = 'reported' | 'estimated' | 'partial';

/**
 * Later values replace earlier ones field by field: streamed usage is cumulative
 * (Anthropic message_delta, Gemini usageMetadata), so it must never be summed across chunks.
 */
export function mergeUsage(base: TokenUsage, update: TokenUsage): TokenUsage {
  const out: TokenUsage = { ...base };
  for (const key of USAGE_FIELDS) {
    const value = update[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** True when the provider reported at least one count. */
export function hasUsage(usage: TokenUsage): boolean {
  return USAGE_FIELDS.some((key) => usage[key] !== undefined);
}

/** Fills totalTokens from prompt + completion when the provider reported no total. */
export function withDerivedTotal(usage: TokenUsage): TokenUsage {
  if (usage.totalTokens !== undefined) return usage;
  if (usage.promptTokens === undefined && usage.completionTokens === undefined) return usage;
  return { ...usage, totalTokens: (usage.promptTokens ?? 0) + (usage.completionTokens ?? 0) };
}

/** Reads a non-negative integer count from an unknown JSON value; anything else is "not reported". */
export function readCount(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}
