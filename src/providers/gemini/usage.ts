import { readCount, type TokenUsage } from '../../usage.js';
import { isJsonObject } from '../json.js';

/**
 * Usage normalisation for the Gemini API shape (DESIGN.md, "Token accounting"), from
 * `usageMetadata` (https://ai.google.dev/api/generate-content#UsageMetadata). A count Gemini did
 * not send stays undefined: it is never read as 0.
 */

/** The counts of one `usageMetadata`, as Gemini names them; absent = not reported. */
export interface GeminiCounts {
  promptTokenCount?: number;
  toolUsePromptTokenCount?: number;
  candidatesTokenCount?: number;
  thoughtsTokenCount?: number;
  totalTokenCount?: number;
  cachedContentTokenCount?: number;
}

const COUNT_FIELDS = [
  'promptTokenCount',
  'toolUsePromptTokenCount',
  'candidatesTokenCount',
  'thoughtsTokenCount',
  'totalTokenCount',
  'cachedContentTokenCount',
] as const satisfies readonly (keyof GeminiCounts)[];

/**
 * Reads the counts of a `usageMetadata` object; undefined when it is not an object or reports
 * no count at all (such a block must not wipe the counts of an earlier stream chunk).
 */
export function readGeminiCounts(usageMetadata: unknown): GeminiCounts | undefined {
  if (!isJsonObject(usageMetadata)) return undefined;
  const counts: GeminiCounts = {};
  let any = false;
  for (const key of COUNT_FIELDS) {
    const value = readCount(usageMetadata[key]);
    if (value === undefined) continue;
    counts[key] = value;
    any = true;
  }
  return any ? counts : undefined;
}

/**
 * Later counts replace earlier ones field by field. Each stream chunk's `usageMetadata` is a
 * cumulative snapshot, so the latest value of a field is the right one and nothing is ever
 * summed; a field a later chunk leaves out keeps its earlier value.
 */
export function mergeGeminiCounts(base: GeminiCounts | undefined, update: GeminiCounts): GeminiCounts {
  return base === undefined ? update : { ...base, ...update };
}

/** a + b over the parts that were reported; undefined when neither was. */
function sumReported(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined && b === undefined ? undefined : (a ?? 0) + (b ?? 0);
}

/**
 * Normalised usage. `promptTokenCount` already includes the cached tokens but not the prompt
 * of tool use (url context, search); `candidatesTokenCount` excludes the thinking tokens, which
 * are billed as output (https://ai.google.dev/gemini-api/docs/thinking#pricing):
 * prompt = promptTokenCount + toolUsePromptTokenCount, completion = candidatesTokenCount +
 * thoughtsTokenCount, total = totalTokenCount. Gemini reports no cache writes.
 */
export function normaliseGeminiUsage(counts: GeminiCounts | undefined): TokenUsage {
  const usage: TokenUsage = {};
  if (counts === undefined) return usage;
  const prompt = sumReported(counts.promptTokenCount, counts.toolUsePromptTokenCount);
  if (prompt !== undefined) usage.promptTokens = prompt;
  const completion = sumReported(counts.candidatesTokenCount, counts.thoughtsTokenCount);
  if (completion !== undefined) usage.completionTokens = completion;
  if (counts.totalTokenCount !== undefined) usage.totalTokens = counts.totalTokenCount;
  if (counts.cachedContentTokenCount !== undefined) usage.cachedTokens = counts.cachedContentTokenCount;
  if (counts.thoughtsTokenCount !== undefined) usage.reasoningTokens = counts.thoughtsTokenCount;
  return usage;
}
