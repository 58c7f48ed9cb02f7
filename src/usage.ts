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

/**
 * How some of a call's tokens divide by modality, where the provider says so (Realtime and
 * audio models: audio tokens cost several times text tokens). Each is a part of a count of
 * TokenUsage, never added to it: `audioPromptTokens` and `imagePromptTokens` are inside
 * promptTokens, `cachedAudioTokens` inside cachedTokens, `audioCompletionTokens` inside
 * completionTokens. Kept on the record (and priced), not in the rollups. Durations that are
 * not tokens (seconds of transcribed audio) are never put here.
 */
export interface TokenDetails {
  audioPromptTokens?: number;
  cachedAudioTokens?: number;
  imagePromptTokens?: number;
  audioCompletionTokens?: number;
}

export const TOKEN_DETAIL_FIELDS = [
  'audioPromptTokens',
  'cachedAudioTokens',
  'imagePromptTokens',
  'audioCompletionTokens',
] as const satisfies readonly (keyof TokenDetails)[];

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

/**
 * The largest token count one call may report for one field (10⁹). Real calls are far below it
 * (the largest context windows hold a few million tokens); anything above is absurd and is not
 * billed. The one place the bound is set.
 */
export const MAX_TOKEN_COUNT = 1_000_000_000;

/**
 * What a reader returns for a value that is present but is not a sane count (negative,
 * fractional, above MAX_TOKEN_COUNT, a string, Infinity…). It is NaN on purpose: it travels
 * through the readers' and taps' merges unchanged (it is not `undefined`, so it replaces and is
 * replaced like any reported value), and any sum with it is NaN too, so an invalid part can never
 * disappear into a plausible total (Anthropic's prompt = input + cache write + cache read, -5 + 10).
 * The call meter's screen (`invalidUsageFields`) is the one gate: no record ever holds it.
 */
export const INVALID_COUNT = Number.NaN;

/**
 * Reads one token count from an unknown JSON value. Absent or `null` is "not reported"
 * (`undefined`); a non-negative safe integer up to MAX_TOKEN_COUNT is the count; anything else
 * is INVALID_COUNT.
 */
export function readCount(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_TOKEN_COUNT
    ? value
    : INVALID_COUNT;
}

/** A field value a record may hold: a non-negative safe integer (sums of bounded counts included). */
function isCount(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/**
 * The fields of a provider's usage that cannot be billed: those holding INVALID_COUNT (or any
 * other value that is not a count), and `totalTokens` when it is below prompt + completion (a
 * total includes both for every provider; one above the sum is kept: the OpenAI adapter already
 * moved reasoning reported outside completion_tokens into it (providers/openai/usage-quirks.ts),
 * and a gap nothing explains is the provider's own figure, billed as reported). Empty when the
 * usage is sane.
 */
export function invalidUsageFields(usage: TokenUsage): (keyof TokenUsage)[] {
  const invalid: (keyof TokenUsage)[] = [];
  for (const key of USAGE_FIELDS) {
    const value = usage[key];
    if (value !== undefined && !isCount(value)) invalid.push(key);
  }
  const { promptTokens, completionTokens, totalTokens } = usage;
  if (
    invalid.length === 0 &&
    totalTokens !== undefined &&
    totalTokens < (promptTokens ?? 0) + (completionTokens ?? 0)
  )
    invalid.push('totalTokens');
  return invalid;
}

/** True when the provider reported at least one count and every count is sane. */
export function hasValidUsage(usage: TokenUsage): boolean {
  return hasUsage(usage) && invalidUsageFields(usage).length === 0;
}
