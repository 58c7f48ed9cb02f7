import type { IncomingHttpHeaders } from 'node:http';
import type { RecordFlag } from '../../ledger/record.js';
import { readCount, type TokenUsage } from '../../usage.js';
import { isJsonObject } from '../json.js';

/**
 * Bedrock's token counts, kept apart until the end (a stream may report any one of them on its
 * own). `input` never includes the cache: Converse's `inputTokens`, Anthropic's `input_tokens`,
 * Bedrock's `inputTokenCount` / `x-amzn-bedrock-input-token-count` all count the uncached
 * input only, and the cache reads and writes come beside it
 * (https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html).
 */
export interface BedrockCounts {
  input?: number;
  output?: number;
  cacheRead?: number;
  cacheWrite?: number;
  /** A total the provider reported (Converse `totalTokens`). */
  total?: number;
  /**
   * A prompt count that already includes the cache (an OpenAI-shaped `prompt_tokens`): used
   * as promptTokens as it is, when `input` is absent.
   */
  prompt?: number;
}

const KEYS = ['input', 'output', 'cacheRead', 'cacheWrite', 'total', 'prompt'] as const;

/** Sets each count that is reported (not undefined) on a fresh object. */
export function defined(values: Record<(typeof KEYS)[number], number | undefined>): BedrockCounts {
  const counts: BedrockCounts = {};
  for (const key of KEYS) {
    const value = values[key];
    if (value !== undefined) counts[key] = value;
  }
  return counts;
}

/** Whether any count is reported. */
export function hasCounts(counts: BedrockCounts | undefined): counts is BedrockCounts {
  return counts !== undefined && KEYS.some((key) => counts[key] !== undefined);
}

/** Later counts replace earlier ones field by field: streamed counts are cumulative, never summed. */
export function mergeCounts(
  base: BedrockCounts | undefined,
  update: BedrockCounts | undefined,
): BedrockCounts {
  const out: BedrockCounts = { ...base };
  if (update === undefined) return out;
  for (const key of KEYS) {
    const value = update[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/**
 * A Converse `usage` object (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_TokenUsage.html),
 * the same shape in ConverseStream's `metadata` event and in Amazon Nova's own bodies
 * (which spell the cache counts `cacheReadInputTokenCount` / `cacheWriteInputTokenCount`).
 * Undefined when it is not an object.
 */
export function readConverseUsage(usage: unknown): BedrockCounts | undefined {
  if (!isJsonObject(usage)) return undefined;
  return defined({
    input: readCount(usage['inputTokens']),
    output: readCount(usage['outputTokens']),
    cacheRead: readCount(usage['cacheReadInputTokens'] ?? usage['cacheReadInputTokenCount']),
    cacheWrite: readCount(usage['cacheWriteInputTokens'] ?? usage['cacheWriteInputTokenCount']),
    total: readCount(usage['totalTokens']),
    prompt: undefined,
  });
}

/**
 * Bedrock's own counts, what AWS bills: the InvokeModel answer headers
 * (https://docs.aws.amazon.com/bedrock/latest/userguide/monitoring.html#runtime-cloudwatch-metrics
 * names the same counts) `x-amzn-bedrock-input-token-count`, `x-amzn-bedrock-output-token-count`
 * and, with prompt caching, `x-amzn-bedrock-cache-read-input-token-count` /
 * `x-amzn-bedrock-cache-write-input-token-count`.
 */
export function readBilledHeaders(headers: IncomingHttpHeaders | undefined): BedrockCounts | undefined {
  if (headers === undefined) return undefined;
  const counts = defined({
    input: headerCount(headers['x-amzn-bedrock-input-token-count']),
    output: headerCount(headers['x-amzn-bedrock-output-token-count']),
    cacheRead: headerCount(headers['x-amzn-bedrock-cache-read-input-token-count']),
    cacheWrite: headerCount(headers['x-amzn-bedrock-cache-write-input-token-count']),
    total: undefined,
    prompt: undefined,
  });
  return hasCounts(counts) ? counts : undefined;
}

/** A header holding a count: digits only; anything else present is INVALID_COUNT. */
function headerCount(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = (Array.isArray(value) ? value[0] : value)?.trim() ?? '';
  return readCount(/^\d{1,16}$/.test(text) ? Number(text) : text);
}

/**
 * The `amazon-bedrock-invocationMetrics` object on the last chunk of an
 * InvokeModelWithResponseStream answer: `inputTokenCount`, `outputTokenCount` and, with prompt
 * caching, `cacheReadInputTokenCount` / `cacheWriteInputTokenCount`. `invocationLatency` and
 * `firstByteLatency` are milliseconds, never tokens.
 */
export function readInvocationMetrics(metrics: unknown): BedrockCounts | undefined {
  if (!isJsonObject(metrics)) return undefined;
  return defined({
    input: readCount(metrics['inputTokenCount']),
    output: readCount(metrics['outputTokenCount']),
    cacheRead: readCount(metrics['cacheReadInputTokenCount']),
    cacheWrite: readCount(metrics['cacheWriteInputTokenCount']),
    total: undefined,
    prompt: undefined,
  });
}

/** The fields Bedrock bills that a model body may also report. */
const BILLED_KEYS = ['input', 'output', 'cacheRead', 'cacheWrite'] as const;

/**
 * The counts to record: Bedrock's billed counts win field by field over the model's own. When a
 * count both report differs, the result carries `billed_counts_differ`. A model total is
 * dropped once a billed count replaced a part of it (it no longer adds up).
 */
export function reconcileCounts(
  model: BedrockCounts | undefined,
  billed: BedrockCounts | undefined,
): { counts: BedrockCounts; flags?: readonly RecordFlag[] } {
  if (!hasCounts(billed)) return { counts: { ...model } };
  const counts = mergeCounts(model, billed);
  let differ = false;
  let replaced = false;
  for (const key of BILLED_KEYS) {
    const own = model?.[key];
    const bill = billed[key];
    if (bill === undefined) continue;
    if (own !== undefined && !Object.is(own, bill)) differ = true;
    replaced = true;
  }
  if (replaced && billed.input !== undefined) delete counts.prompt;
  if (differ) delete counts.total;
  return differ ? { counts, flags: ['billed_counts_differ'] } : { counts };
}

/**
 * The normalised usage (DESIGN.md, "Token accounting"): promptTokens = input + cache read +
 * cache write (those reported), completionTokens = output. totalTokens is the reported total
 * when it is consistent; Bedrock's Converse `totalTokens` may leave the cache out
 * (input + output only), and is then replaced by prompt + completion so that the record adds
 * up; with no total reported it is derived.
 */
export function normaliseCounts(counts: BedrockCounts): TokenUsage {
  const usage: TokenUsage = {};
  const inputParts = [counts.input, counts.cacheRead, counts.cacheWrite].filter(
    (n): n is number => n !== undefined,
  );
  if (inputParts.length > 0) usage.promptTokens = inputParts.reduce((a, b) => a + b, 0);
  else if (counts.prompt !== undefined) usage.promptTokens = counts.prompt;
  if (counts.output !== undefined) usage.completionTokens = counts.output;
  if (counts.cacheRead !== undefined) usage.cachedTokens = counts.cacheRead;
  if (counts.cacheWrite !== undefined) usage.cacheWriteTokens = counts.cacheWrite;
  const sum =
    usage.promptTokens === undefined && usage.completionTokens === undefined
      ? undefined
      : (usage.promptTokens ?? 0) + (usage.completionTokens ?? 0);
  const uncached = (counts.input ?? 0) + (counts.output ?? 0);
  if (counts.total !== undefined && !(counts.total === uncached && sum !== undefined && sum > uncached))
    usage.totalTokens = counts.total;
  else if (sum !== undefined) usage.totalTokens = sum;
  return usage;
}
