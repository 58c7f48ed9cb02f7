import { readCount } from '../../usage.js';
import { readAnthropicCounts } from '../anthropic/usage.js';
import { field, isJsonObject, readText, type JsonObject } from '../json.js';
import {
  defined,
  hasCounts,
  readConverseUsage,
  readInvocationMetrics,
  type BedrockCounts,
} from './counts.js';

/**
 * InvokeModel bodies are the model provider's own format
 * (https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters.html). What one body
 * (or one streamed chunk) of each family says about tokens, read by shape rather than by model
 * id, so that a new model of a known family is metered too.
 */

/** What one InvokeModel body or one streamed chunk says; every field is optional. */
export interface ModelFacts {
  /** The model's own counts (cumulative in streams: each replaces the earlier value). */
  counts?: BedrockCounts;
  /** Bedrock's `amazon-bedrock-invocationMetrics` (the last streamed chunk): what AWS bills. */
  billed?: BedrockCounts;
  /** The model the body names (Anthropic's `model`). */
  responseModel?: string;
  /** Generated output carried by the body or chunk. */
  text?: string;
  /** The chunk is an error the model reported in the stream (Anthropic `error`). */
  errored?: boolean;
}

/** Anthropic Messages (https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages.html). */
function anthropicCounts(usage: unknown): BedrockCounts | undefined {
  const counts = readAnthropicCounts(usage);
  if (counts === undefined) return undefined;
  return defined({
    input: counts.input,
    output: counts.output,
    cacheRead: counts.cacheRead,
    cacheWrite: counts.cacheWrite,
    total: undefined,
    prompt: undefined,
  });
}

/** An OpenAI-shaped `usage` (gpt-oss, AI21 Jamba, DeepSeek): prompt_tokens includes any cache. */
function openAiCounts(usage: JsonObject): BedrockCounts {
  return defined({
    input: undefined,
    output: readCount(usage['completion_tokens']),
    cacheRead: undefined,
    cacheWrite: undefined,
    total: readCount(usage['total_tokens']),
    prompt: readCount(usage['prompt_tokens']),
  });
}

/** The counts of a `usage` object, whichever family's shape it has. */
function usageCounts(usage: unknown): BedrockCounts | undefined {
  if (!isJsonObject(usage)) return undefined;
  if ('input_tokens' in usage || 'output_tokens' in usage) return anthropicCounts(usage);
  if ('inputTokens' in usage || 'outputTokens' in usage) return readConverseUsage(usage);
  if ('prompt_tokens' in usage || 'completion_tokens' in usage) return openAiCounts(usage);
  return undefined;
}

/**
 * Counts stated at the top level of a body or chunk: Meta Llama's `prompt_token_count` /
 * `generation_token_count` and Amazon Titan's `inputTextTokenCount` with `tokenCount` per
 * result (non-streamed) or `totalOutputTextTokenCount` (streamed).
 */
function topLevelCounts(body: JsonObject): BedrockCounts | undefined {
  let output = readCount(body['generation_token_count'] ?? body['totalOutputTextTokenCount']);
  const results = body['results'];
  if (output === undefined && Array.isArray(results)) {
    for (const result of results) {
      const count = readCount(field(result, 'tokenCount'));
      if (count !== undefined) output = (output ?? 0) + count;
    }
  }
  const counts = defined({
    input: readCount(body['prompt_token_count'] ?? body['inputTextTokenCount']),
    output,
    cacheRead: undefined,
    cacheWrite: undefined,
    total: undefined,
    prompt: undefined,
  });
  return hasCounts(counts) ? counts : undefined;
}

/** Text of a Converse-style content block delta (Nova streams, Converse streams). */
export function converseDeltaText(delta: unknown): string {
  const text = field(delta, 'text');
  if (typeof text === 'string') return text;
  const input = field(field(delta, 'toolUse'), 'input');
  if (typeof input === 'string') return input;
  const reasoning = field(field(delta, 'reasoningContent'), 'text');
  return typeof reasoning === 'string' ? reasoning : '';
}

/** Generated text of a body or chunk of any known family. */
function modelText(body: JsonObject): string {
  let text = '';
  for (const key of ['generation', 'outputText', 'completion', 'text'] as const) {
    const value = body[key];
    if (typeof value === 'string') text += value;
  }
  const delta = body['delta'];
  if (isJsonObject(delta)) {
    // Anthropic content_block_delta: text, tool input JSON, thinking.
    for (const key of ['text', 'partial_json', 'thinking'] as const) {
      const value = delta[key];
      if (typeof value === 'string') text += value;
    }
  }
  const nova = field(body['contentBlockDelta'], 'delta');
  if (nova !== undefined) text += converseDeltaText(nova);
  for (const list of ['content', 'results', 'outputs', 'generations'] as const) {
    const items = body[list];
    if (!Array.isArray(items)) continue;
    for (const item of items) {
      for (const key of ['text', 'outputText', 'thinking'] as const) {
        const value = field(item, key);
        if (typeof value === 'string') text += value;
      }
    }
  }
  const message = field(field(body, 'output'), 'message');
  const blocks = field(message, 'content');
  if (Array.isArray(blocks))
    for (const block of blocks) {
      const value = field(block, 'text');
      if (typeof value === 'string') text += value;
    }
  return text;
}

/**
 * Reads one model body (InvokeModel) or one decoded chunk (InvokeModelWithResponseStream).
 * Counts come from, in order: `usage` (Anthropic, Nova, OpenAI-shaped), Anthropic's
 * `message.usage` (`message_start`), Nova's `metadata.usage` (streams), and the top-level
 * counts of Meta and Titan. `amazon-bedrock-invocationMetrics` is Bedrock's, not the model's.
 */
export function readModelBody(body: unknown): ModelFacts {
  if (!isJsonObject(body)) return {};
  const facts: ModelFacts = {};
  const counts =
    usageCounts(body['usage']) ??
    usageCounts(field(body['message'], 'usage')) ??
    usageCounts(field(body['metadata'], 'usage')) ??
    topLevelCounts(body);
  if (counts !== undefined) facts.counts = counts;
  const billed = readInvocationMetrics(body['amazon-bedrock-invocationMetrics']);
  if (billed !== undefined) facts.billed = billed;
  const model = readText(body['model']) ?? readText(field(body['message'], 'model'));
  if (model !== undefined) facts.responseModel = model;
  const text = modelText(body);
  if (text !== '') facts.text = text;
  if (body['type'] === 'error') facts.errored = true;
  return facts;
}
