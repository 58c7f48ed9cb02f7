import type { ExtractedUsage, StreamResult } from '../types.js';
import { invalidUsageFields, type TokenUsage } from '../../usage.js';
import { field, isJsonObject, readText } from '../json.js';
import { createGeneratedText } from '../generated-text.js';
import { jsonText } from '../json-text.js';
import { mergeGeminiCounts, normaliseGeminiUsage, readGeminiCounts, type GeminiCounts } from './usage.js';

/**
 * Reading a `GenerateContentResponse` (https://ai.google.dev/api/generate-content#generatecontentresponse):
 * a whole non-streamed answer, or one chunk of a stream (every chunk has the same shape).
 */

/** What one response chunk says; every field is optional. */
export interface ChunkFacts {
  /** The chunk's usage counts, when it reports any. */
  counts?: GeminiCounts;
  /** `modelVersion`: the model that answered. */
  responseModel?: string;
  /** Generated text of the chunk (for estimation). */
  text?: string;
  /** A candidate finished (`finishReason`) or the prompt was blocked: the answer is whole. */
  finished?: boolean;
  /** The chunk is an `error` object. */
  errored?: boolean;
}

/** Reads one parsed chunk; anything that is not a JSON object says nothing. */
export function readGeminiChunk(chunk: unknown): ChunkFacts {
  if (!isJsonObject(chunk)) return {};
  const facts: ChunkFacts = {};
  const counts = readGeminiCounts(chunk['usageMetadata']);
  if (counts !== undefined) facts.counts = counts;
  const model = readText(chunk['modelVersion']);
  if (model !== undefined) facts.responseModel = model;
  // A failure inside a stream arrives as an element holding Google's error object.
  if (isJsonObject(chunk['error'])) facts.errored = true;
  // A blocked prompt ends the answer without any candidate; only promptFeedback says so
  // (https://ai.google.dev/api/generate-content#PromptFeedback).
  if (readText(field(chunk['promptFeedback'], 'blockReason')) !== undefined) facts.finished = true;
  const candidates = chunk['candidates'];
  if (Array.isArray(candidates)) {
    let text = '';
    for (const candidate of candidates) {
      if (readText(field(candidate, 'finishReason')) !== undefined) facts.finished = true;
      text += candidateText(candidate);
    }
    if (text !== '') facts.text = text;
  }
  return facts;
}

/**
 * The generated output of a candidate: text parts (thought summaries included: they are
 * output too) and function-call names and arguments.
 */
function candidateText(candidate: unknown): string {
  const parts = field(field(candidate, 'content'), 'parts');
  if (!Array.isArray(parts)) return '';
  let text = '';
  for (const part of parts) {
    const value = field(part, 'text');
    if (typeof value === 'string') text += value;
    const call = field(part, 'functionCall');
    // A backend's arguments can nest deeper than JSON.stringify can recurse: jsonText cannot fail.
    if (isJsonObject(call)) text += `${readText(call['name']) ?? ''}${jsonText(call['args'] ?? {})}`;
  }
  return text;
}

/** Usage and answering model from a complete (non-streamed) response body. */
export function extractGeminiUsage(body: unknown): ExtractedUsage {
  const facts = readGeminiChunk(body);
  const extracted: ExtractedUsage = { usage: normaliseGeminiUsage(facts.counts) };
  if (facts.responseModel !== undefined) extracted.responseModel = facts.responseModel;
  // Absurd counts are not billed: the text is kept for estimation.
  if (invalidUsageFields(extracted.usage).length > 0) extracted.generatedText = facts.text ?? '';
  return extracted;
}

/** Accumulates the chunks of a stream into a StreamResult. */
export interface GeminiStreamState {
  apply(facts: ChunkFacts): void;
  /** The usage applied so far. */
  usage(): TokenUsage;
  /**
   * The result so far. `pending` is a chunk still held back (read, not stored); `ended` says
   * whether the framing reached its end (the JSON array's `]`; SSE has no end marker).
   */
  result(pending: ChunkFacts | undefined, ended: boolean): StreamResult;
}

/**
 * Creates the state of one stream. Usage counts merge field by field (cumulative snapshots:
 * the latest wins, never summed); the stream is complete once a chunk finished the answer.
 */
export function createGeminiStreamState(): GeminiStreamState {
  let counts: GeminiCounts | undefined;
  let responseModel: string | undefined;
  // Kept for estimation up to MAX_GENERATED_TEXT_CHARS (an estimate counts the text kept).
  const text = createGeneratedText();
  let finished = false;
  let errored = false;
  return {
    apply(facts) {
      if (facts.counts !== undefined) counts = mergeGeminiCounts(counts, facts.counts);
      if (facts.responseModel !== undefined) responseModel = facts.responseModel;
      if (facts.text !== undefined) text.add(facts.text);
      if (facts.finished === true) finished = true;
      if (facts.errored === true) errored = true;
    },
    usage: () => normaliseGeminiUsage(counts),
    result(pending, ended) {
      const merged = pending?.counts === undefined ? counts : mergeGeminiCounts(counts, pending.counts);
      const model = pending?.responseModel ?? responseModel;
      const out: StreamResult = {
        usage: normaliseGeminiUsage(merged),
        generatedText: text.text() + (pending?.text ?? ''),
        completed: ended && (finished || pending?.finished === true),
        errored: errored || pending?.errored === true,
      };
      if (model !== undefined) out.responseModel = model;
      return out;
    },
  };
}
