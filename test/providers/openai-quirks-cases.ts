// The expected results of test/fixtures/captures/openai-compatible (see its INDEX.md): counts as
// tokenmeter normalises them, the provider's cost and the modality details.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { TokenDetails, TokenUsage } from '../../src/usage.js';
import { REPO_ROOT } from '../helpers/paths.js';

/** The recorded OpenAI-compatible answers (kept in the project, unlike the shared captures). */
export const QUIRK_CAPTURES_DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'captures', 'openai-compatible');

export function readQuirkCapture(name: string): Buffer {
  return readFileSync(path.join(QUIRK_CAPTURES_DIR, name));
}

export function readQuirkCaptureJson(name: string): Record<string, unknown> {
  return JSON.parse(readQuirkCapture(name).toString('utf8')) as Record<string, unknown>;
}

/** xAI reports its cost in ticks of 10⁻¹⁰ USD. */
const TICK = 1e-10;

export interface QuirkCase {
  file: string;
  usage: TokenUsage;
  model: string;
  providerCost?: number;
  tokenDetails?: TokenDetails;
}

export interface QuirkStreamCase extends QuirkCase {
  /** Whether the stream holds a usage-only chunk (`choices: []`), what strip mode removes. */
  usageOnlyChunk: boolean;
  /** SSE comment lines in the capture. */
  comments: number;
}

export const QUIRK_JSON_CASES: QuirkCase[] = [
  {
    file: 'xai-grok3mini-nonstream.json',
    usage: {
      promptTokens: 12,
      completionTokens: 229,
      totalTokens: 241,
      cachedTokens: 2,
      reasoningTokens: 228,
    },
    model: 'grok-3-mini',
    providerCost: 1176500 * TICK,
  },
  {
    file: 'xai-grok3mini-nonstream-toolcall.json',
    usage: {
      promptTokens: 291,
      completionTokens: 215,
      totalTokens: 506,
      cachedTokens: 244,
      reasoningTokens: 189,
    },
    model: 'grok-3-mini',
    providerCost: 1399000 * TICK,
  },
  {
    file: 'openrouter-nonstream-cost.json',
    usage: {
      promptTokens: 17,
      completionTokens: 2177,
      totalTokens: 2194,
      cachedTokens: 0,
      reasoningTokens: 960,
    },
    model: 'openai/gpt-5-mini',
    providerCost: 0.00435825,
  },
  {
    file: 'deepseek-nonstream-cache-hit.json',
    usage: {
      promptTokens: 563,
      completionTokens: 116,
      totalTokens: 679,
      cachedTokens: 512,
      reasoningTokens: 60,
    },
    model: 'deepseek-v4-flash',
  },
  {
    file: 'openai-audio-preview-nonstream-audio-input.json',
    usage: { promptTokens: 64, completionTokens: 9, totalTokens: 73, cachedTokens: 0, reasoningTokens: 0 },
    model: 'gpt-4o-audio-preview-2024-12-17',
    tokenDetails: { audioPromptTokens: 44 },
  },
];

export const QUIRK_STREAM_CASES: QuirkStreamCase[] = [
  {
    file: 'xai-grok3mini-stream.sse',
    usage: {
      promptTokens: 12,
      completionTokens: 291,
      totalTokens: 303,
      cachedTokens: 11,
      reasoningTokens: 290,
    },
    model: 'grok-3-mini',
    providerCost: 1466250 * TICK,
    usageOnlyChunk: true,
    comments: 0,
  },
  {
    file: 'groq-stream-xgroq-and-usage.sse',
    usage: { promptTokens: 343, completionTokens: 180, totalTokens: 523, reasoningTokens: 153 },
    model: 'openai/gpt-oss-120b',
    usageOnlyChunk: false,
    comments: 0,
  },
  {
    file: 'groq-stream-xgroq-only.sse',
    usage: { promptTokens: 21, completionTokens: 988, totalTokens: 1009 },
    model: 'deepseek-r1-distill-llama-70b',
    usageOnlyChunk: false,
    comments: 0,
  },
  {
    file: 'perplexity-stream-running-usage.sse',
    usage: { promptTokens: 11, completionTokens: 434, totalTokens: 445 },
    model: 'sonar',
    usageOnlyChunk: false,
    comments: 0,
  },
  {
    file: 'openrouter-stream-comments-cost.sse',
    usage: { promptTokens: 43, completionTokens: 36, totalTokens: 79, cachedTokens: 0, reasoningTokens: 13 },
    model: 'anthropic/claude-sonnet-4.5',
    providerCost: 0.000669,
    usageOnlyChunk: false,
    comments: 4,
  },
  {
    file: 'deepseek-stream-usage-on-content-chunk.sse',
    usage: {
      promptTokens: 6,
      completionTokens: 212,
      totalTokens: 218,
      cachedTokens: 0,
      reasoningTokens: 198,
    },
    model: 'deepseek-reasoner',
    usageOnlyChunk: false,
    comments: 0,
  },
];
