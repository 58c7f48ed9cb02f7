import type { ExtractedUsage } from '../types.js';
import { hasValidUsage, readCount, USAGE_FIELDS, type TokenDetails, type TokenUsage } from '../../usage.js';
import { field, isJsonObject, readText } from '../json.js';
import { OPERATIONS } from './routes.js';
import { choicesText } from './choices-text.js';
import { normaliseReasoning, readCachedTokens, readProviderCost, readTokenDetails } from './usage-quirks.js';

/**
 * Usage normalisation for the OpenAI API shape (DESIGN.md, "Token accounting"). A count the
 * provider did not send stays undefined: it is never read as 0.
 */

type UsageValues = { [K in keyof TokenUsage]-?: number | undefined };

/** Keeps only the counts that were reported (exactOptionalPropertyTypes: no `undefined` values). */
function compactUsage(values: UsageValues): TokenUsage {
  const usage: TokenUsage = {};
  for (const key of USAGE_FIELDS) {
    const value = values[key];
    if (value !== undefined) usage[key] = value;
  }
  return usage;
}

/**
 * Everything one `usage` object says: the counts, and where the provider reports them, its own
 * cost and the modality details. The three are read together and travel together, so a later
 * usage block of a stream replaces all of them at once.
 */
export interface UsageReport {
  usage: TokenUsage;
  providerCost?: number;
  tokenDetails?: TokenDetails;
}

/** A report with only the optional members that were read (exactOptionalPropertyTypes). */
function toReport(
  usage: TokenUsage,
  providerCost: number | undefined,
  details: TokenDetails | undefined,
): UsageReport {
  const report: UsageReport = { usage };
  if (providerCost !== undefined) report.providerCost = providerCost;
  if (details !== undefined) report.tokenDetails = details;
  return report;
}

/**
 * Reads a Chat Completions / Completions / Embeddings `usage` object with the quirks of
 * OpenAI-compatible servers (usage-quirks.ts): reasoning outside completion_tokens, DeepSeek's
 * cache hits, a provider cost, audio / image details. Undefined when `usage` is not an object
 * (absent, or `null` as in every chunk before the usage chunk).
 * https://platform.openai.com/docs/api-reference/chat/object#chat/object-usage
 */
export function readChatUsageReport(usage: unknown): UsageReport | undefined {
  if (!isJsonObject(usage)) return undefined;
  const promptTokens = readCount(usage['prompt_tokens']);
  const counts = normaliseReasoning(
    compactUsage({
      promptTokens,
      completionTokens: readCount(usage['completion_tokens']),
      totalTokens: readCount(usage['total_tokens']),
      cachedTokens: readCachedTokens(usage, promptTokens),
      cacheWriteTokens: readCount(field(usage['prompt_tokens_details'], 'cache_write_tokens')),
      reasoningTokens: readCount(field(usage['completion_tokens_details'], 'reasoning_tokens')),
    }),
  );
  return toReport(counts, readProviderCost(usage), readTokenDetails(usage, counts));
}

/** The counts of a Chat Completions `usage` object (see readChatUsageReport). */
export function readChatUsage(usage: unknown): TokenUsage | undefined {
  return readChatUsageReport(usage)?.usage;
}

/**
 * Reads a Responses API `usage` object; undefined when it is not an object. Reasoning outside
 * `output_tokens` is normalised as in chat (usage-quirks.ts).
 * https://platform.openai.com/docs/api-reference/responses/object#responses/object-usage
 */
export function readResponsesUsageReport(usage: unknown): UsageReport | undefined {
  if (!isJsonObject(usage)) return undefined;
  const counts = normaliseReasoning(
    compactUsage({
      promptTokens: readCount(usage['input_tokens']),
      completionTokens: readCount(usage['output_tokens']),
      totalTokens: readCount(usage['total_tokens']),
      cachedTokens: readCount(field(usage['input_tokens_details'], 'cached_tokens')),
      // The Responses API reports no cache writes.
      cacheWriteTokens: undefined,
      reasoningTokens: readCount(field(usage['output_tokens_details'], 'reasoning_tokens')),
    }),
  );
  const details = readTokenDetails(usage, counts, {
    prompt: 'input_tokens_details',
    completion: 'output_tokens_details',
  });
  return toReport(counts, readProviderCost(usage), details);
}

/** The counts of a Responses API `usage` object (see readResponsesUsageReport). */
export function readResponsesUsage(usage: unknown): TokenUsage | undefined {
  return readResponsesUsageReport(usage)?.usage;
}

/**
 * Usage and answering model from a complete (non-streamed) response body of `operation`.
 * An error body, or anything that is not a JSON object, yields empty usage.
 */
export function extractOpenAiUsage(operation: string, body: unknown): ExtractedUsage {
  const read = operation === OPERATIONS.responses ? readResponsesUsageReport : readChatUsageReport;
  const report = read(field(body, 'usage'));
  const extracted: ExtractedUsage = { usage: report?.usage ?? {} };
  if (report?.providerCost !== undefined) extracted.providerCost = report.providerCost;
  if (report?.tokenDetails !== undefined) extracted.tokenDetails = report.tokenDetails;
  const model = readText(field(body, 'model'));
  if (model !== undefined) extracted.responseModel = model;
  // OpenAI-compatible servers that report no usage (or absurd counts): the text is kept for estimation.
  if (!hasValidUsage(extracted.usage)) extracted.generatedText = responseText(body);
  return extracted;
}

/**
 * The text a non-streamed answer generated: chat `choices[].message.content` (and tool-call
 * arguments), completions `choices[].text`, Responses `output[].content[].text`.
 */
function responseText(body: unknown): string {
  let text = '';
  const choices = field(body, 'choices');
  if (Array.isArray(choices)) text += choicesText(choices, 'message');
  const output = field(body, 'output');
  if (Array.isArray(output)) {
    for (const item of output) {
      const parts = field(item, 'content');
      if (!Array.isArray(parts)) continue;
      for (const part of parts) {
        const partText = field(part, 'text');
        if (typeof partText === 'string') text += partText;
      }
    }
  }
  return text;
}
