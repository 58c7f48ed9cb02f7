import { INVALID_COUNT, readCount, type TokenDetails, type TokenUsage } from '../../usage.js';
import { field, isJsonObject } from '../json.js';

/**
 * What OpenAI-compatible servers put in a `usage` object beyond OpenAI's own meaning, brought
 * to tokenmeter's one meaning (DESIGN.md, "Token accounting"; docs/openai-compatible.md). Honest
 * OpenAI traffic passes through every rule here unchanged.
 */

/**
 * Reasoning reported outside `completion_tokens`: xAI's grok-3-mini answers e.g.
 * `prompt_tokens: 12, completion_tokens: 1, total_tokens: 241, reasoning_tokens: 228`
 * (12 + 1 + 228 = 241; https://docs.x.ai/docs/guides/reasoning), where OpenAI counts reasoning
 * inside completion_tokens. The rule, with P prompt, C completion, T total, R reasoning:
 *
 * - P, C, T and R all reported, R > 0 and T − P − C = R exactly: the reasoning is outside the
 *   completion, so completion becomes C + R (now P + completion = T) and R is kept.
 * - R reported and it cannot be inside the completion (R > C) yet does not fill the gap either
 *   (no total, or T − P − C ≠ R; R > T among them): the counts contradict each other, and
 *   reasoningTokens becomes INVALID_COUNT so that the core screens the whole usage
 *   (`usage_invalid`, estimated) rather than bill a guess.
 * - Anything else is left as reported: R ≤ C is reasoning inside the completion (OpenAI);
 *   a total above P + C that reasoning does not explain stays the provider's (the core keeps a
 *   total above the sum, see invalidUsageFields), and a total below it is screened by the core.
 *
 * Invalid counts (NaN) fail every comparison and are left for the core's screen.
 */
export function normaliseReasoning(usage: TokenUsage): TokenUsage {
  const { promptTokens: p, completionTokens: c, totalTokens: t, reasoningTokens: r } = usage;
  if (r === undefined || c === undefined) return usage;
  if (p !== undefined && t !== undefined && r > 0 && t - p - c === r)
    return { ...usage, completionTokens: c + r };
  if (r > c) return { ...usage, reasoningTokens: INVALID_COUNT };
  return usage;
}

/**
 * Cached input. OpenAI's `prompt_tokens_details.cached_tokens` wins; DeepSeek's own
 * `prompt_cache_hit_tokens` (https://api-docs.deepseek.com/guides/kv_cache) is read only when
 * it is absent (DeepSeek now sends both, equal), so a cache hit is never counted twice. A hit
 * count above the prompt cannot be and is INVALID_COUNT.
 */
export function readCachedTokens(
  usage: Record<string, unknown>,
  prompt: number | undefined,
): number | undefined {
  const cached = readCount(field(usage['prompt_tokens_details'], 'cached_tokens'));
  if (cached !== undefined) return cached;
  const hit = readCount(usage['prompt_cache_hit_tokens']);
  if (hit !== undefined && prompt !== undefined && hit > prompt) return INVALID_COUNT;
  return hit;
}

/** xAI's `cost_in_usd_ticks` unit: 10⁻¹⁰ USD (grok-3-mini's recorded answers price out exactly). */
const USD_PER_TICK = 1e-10;

/**
 * The cost the provider reported for the call: OpenRouter's `usage.cost` (in OpenRouter credits,
 * i.e. USD; https://openrouter.ai/docs/use-cases/usage-accounting), else xAI's
 * `usage.cost_in_usd_ticks` converted to USD. OpenRouter's `cost_details` (what the upstream
 * charged a BYOK key) is not the caller's cost and is not read. A cost that is not a finite
 * non-negative number (a string, -1, 1e400) is ignored: the call is still metered, only
 * without a provider cost.
 */
export function readProviderCost(usage: Record<string, unknown>): number | undefined {
  const cost = usage['cost'];
  if (typeof cost === 'number' && Number.isFinite(cost) && cost >= 0) return cost;
  const ticks = usage['cost_in_usd_ticks'];
  if (typeof ticks === 'number' && Number.isSafeInteger(ticks) && ticks >= 0) return ticks * USD_PER_TICK;
  return undefined;
}

/**
 * How the counts divide by modality: `prompt_tokens_details.audio_tokens` and `image_tokens`,
 * `completion_tokens_details.audio_tokens` (gpt-4o-audio-preview, xAI, OpenRouter). Undefined
 * when none is reported or every one is 0 (plain text: nothing to price apart, so a text call's
 * record stays as it always was), and when they cannot be parts of the counts (not counts, audio
 * + image above the prompt, audio above the completion): then the call is priced as text, its
 * counts untouched.
 */
export function readTokenDetails(
  usage: Record<string, unknown>,
  counts: TokenUsage,
  keys: { prompt: string; completion: string } = {
    prompt: 'prompt_tokens_details',
    completion: 'completion_tokens_details',
  },
): TokenDetails | undefined {
  const promptDetails = usage[keys.prompt];
  const completionDetails = usage[keys.completion];
  if (!isJsonObject(promptDetails) && !isJsonObject(completionDetails)) return undefined;
  const audioPrompt = readCount(field(promptDetails, 'audio_tokens'));
  const imagePrompt = readCount(field(promptDetails, 'image_tokens'));
  const audioCompletion = readCount(field(completionDetails, 'audio_tokens'));
  const parts = [audioPrompt, imagePrompt, audioCompletion];
  if (!parts.some((n) => n !== undefined && n !== 0)) return undefined;
  if (parts.some((n) => n !== undefined && Number.isNaN(n))) return undefined;
  const inPrompt = (audioPrompt ?? 0) + (imagePrompt ?? 0);
  if (inPrompt > 0 && !(counts.promptTokens !== undefined && inPrompt <= counts.promptTokens))
    return undefined;
  if (
    audioCompletion !== undefined &&
    audioCompletion > 0 &&
    !(counts.completionTokens !== undefined && audioCompletion <= counts.completionTokens)
  )
    return undefined;
  const details: TokenDetails = {};
  if (audioPrompt !== undefined && audioPrompt > 0) details.audioPromptTokens = audioPrompt;
  if (imagePrompt !== undefined && imagePrompt > 0) details.imagePromptTokens = imagePrompt;
  if (audioCompletion !== undefined && audioCompletion > 0) details.audioCompletionTokens = audioCompletion;
  return details;
}
