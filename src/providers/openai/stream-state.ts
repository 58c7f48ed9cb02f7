import type { StreamResult } from '../types.js';
import type { TokenDetails, TokenUsage } from '../../usage.js';
import { createGeneratedText } from '../generated-text.js';

/** What one stream event says; every field is optional. */
export interface EventFacts {
  /** A usage block: replaces any earlier one (streamed usage is never summed). */
  usage?: TokenUsage;
  /** The provider's cost, read with `usage` from the same block (replaced with it). */
  providerCost?: number;
  /** The modality details, read with `usage` from the same block (replaced with it). */
  tokenDetails?: TokenDetails;
  /** The model the provider says answered. */
  responseModel?: string;
  /** Generated text carried by the event. */
  text?: string;
  /** The event marks the documented end of the stream. */
  completed?: boolean;
  /** The event reports an error. */
  errored?: boolean;
}

/**
 * Events a tap kept unparsed (it reads them only if asked): their generated text, in stream
 * order, and the first model they name.
 */
export interface DeferredEvents {
  text(): string;
  model(): string | undefined;
}

/** Accumulates the facts of a stream's events into a StreamResult. */
export interface StreamAccumulator {
  apply(facts: EventFacts): void;
  /** The result so far; `pending` facts (an event still held back) are included, not stored. */
  result(pending?: EventFacts): StreamResult;
  /** Whether an event marked the documented end of the stream. */
  isComplete(): boolean;
  /** The usage applied so far. */
  usage(): TokenUsage;
}

/**
 * Creates an accumulator. A tap that keeps its text-only events unparsed passes them as
 * `deferred`: a metered stream with reported usage then never pays a JSON parse per token, and
 * their text is read only if a result's generatedText is asked for (estimation); the model is
 * read from them only when no parsed event named it. Such a tap applies no text of its own, so
 * that the text stays in stream order. Text is kept up to MAX_GENERATED_TEXT_CHARS
 * (generated-text.ts): an estimate counts the text kept.
 */
export function createStreamAccumulator(deferred?: DeferredEvents): StreamAccumulator {
  let usage: TokenUsage | undefined;
  // Read with `usage` from one block and replaced with it: a running total (vLLM's
  // continuous_usage_stats, Perplexity) or a repeated block (Groq's x_groq) is never summed.
  let providerCost: number | undefined;
  let tokenDetails: TokenDetails | undefined;
  let responseModel: string | undefined;
  const text = createGeneratedText();
  let completed = false;
  let errored = false;

  return {
    apply(facts: EventFacts): void {
      if (facts.usage !== undefined) {
        usage = facts.usage;
        providerCost = facts.providerCost;
        tokenDetails = facts.tokenDetails;
      }
      if (facts.responseModel !== undefined) responseModel = facts.responseModel;
      if (facts.text !== undefined) text.add(facts.text);
      if (facts.completed === true) completed = true;
      if (facts.errored === true) errored = true;
    },
    isComplete: () => completed,
    usage: () => ({ ...usage }),
    result(pending?: EventFacts): StreamResult {
      const model = pending?.responseModel ?? responseModel ?? deferred?.model();
      let generated: string | undefined;
      const out: StreamResult = {
        usage: { ...(pending?.usage ?? usage) },
        get generatedText(): string {
          if (generated === undefined) {
            const all = createGeneratedText();
            all.add(text.text());
            if (deferred !== undefined && !all.full) all.add(deferred.text());
            all.add(pending?.text ?? '');
            generated = all.text();
          }
          return generated;
        },
        completed: completed || pending?.completed === true,
        errored: errored || pending?.errored === true,
      };
      if (model !== undefined) out.responseModel = model;
      const block = pending?.usage !== undefined ? pending : { providerCost, tokenDetails };
      if (block.providerCost !== undefined) out.providerCost = block.providerCost;
      if (block.tokenDetails !== undefined) out.tokenDetails = { ...block.tokenDetails };
      return out;
    },
  };
}
