import type { IncomingHttpHeaders } from 'node:http';
import type { ExtractedUsage } from '../types.js';
import { invalidUsageFields } from '../../usage.js';
import { field } from '../json.js';
import {
  normaliseCounts,
  readBilledHeaders,
  readConverseUsage,
  reconcileCounts,
  type BedrockCounts,
} from './counts.js';
import { readModelBody } from './model-body.js';
import { BEDROCK_OPERATIONS } from './routes.js';

/**
 * Usage of a complete (non-streamed) Bedrock answer.
 *
 * - Converse: the body's `usage` (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_TokenUsage.html).
 *   `metrics.latencyMs` and the guardrail `trace` (policy units) are never read.
 * - InvokeModel: the model's own body (readModelBody) and Bedrock's token-count headers; the
 *   headers are what AWS bills, so they win, and `billed_counts_differ` says when they
 *   disagreed with the body.
 *
 * CountTokens (not billed), an error body or anything that is not JSON yields empty usage;
 * absurd counts arrive as INVALID_COUNT and are screened by the core.
 */
export function extractBedrockUsage(
  operation: string,
  body: unknown,
  headers?: IncomingHttpHeaders,
): ExtractedUsage {
  if (operation === BEDROCK_OPERATIONS.countTokens) return { usage: {} };
  let own: BedrockCounts | undefined;
  let responseModel: string | undefined;
  let text: string | undefined;
  if (operation === BEDROCK_OPERATIONS.converse) {
    own = readConverseUsage(field(body, 'usage'));
  } else {
    const facts = readModelBody(body);
    own = facts.counts;
    responseModel = facts.responseModel;
    text = facts.text;
  }
  const { counts, flags } = reconcileCounts(own, readBilledHeaders(headers));
  const extracted: ExtractedUsage = {
    usage: Object.keys(counts).length === 0 ? {} : normaliseCounts(counts),
  };
  if (responseModel !== undefined) extracted.responseModel = responseModel;
  if (flags !== undefined) extracted.flags = flags;
  // Absurd counts are not billed: the text is kept for estimation.
  if (invalidUsageFields(extracted.usage).length > 0 || Object.keys(counts).length === 0) {
    const generated = text ?? converseText(body);
    if (generated !== '') extracted.generatedText = generated;
  }
  return extracted;
}

/** The text blocks of a Converse answer's `output.message.content`. */
function converseText(body: unknown): string {
  const content = field(field(field(body, 'output'), 'message'), 'content');
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const block of content) {
    const value = field(block, 'text');
    if (typeof value === 'string') text += value;
  }
  return text;
}
