import type { StreamResult } from '../types.js';
import type { TokenUsage } from '../../usage.js';

/** What one stream event says; every field is optional. */
export interface EventFacts {
  /** A usage block: replaces any earlier one (streamed usage is never summed). */
  usage?: TokenUsage;
  /** The model the provider says answered. */
  responseModel?: string;
  /** Generated text carried by the event. */
  text?: string;
  /** The event marks the documented end of the stream. */
  completed?: boolean;
  /** The event reports an error. */
  errored?: boolean;
}

/** Accumulates the facts of a stream's events into a StreamResult. */
export interface StreamAccumulator {
  apply(facts: EventFacts): void;
  /**
   * Keeps an event that can only carry generated text, unparsed: its text is read only if the
   * result's generatedText is asked for (estimation), so a metered stream with reported usage
   * never pays a JSON parse per token.
   */
  defer(data: string): void;
  /** The result so far; `pending` facts (an event still held back) are included, not stored. */
  result(pending?: EventFacts): StreamResult;
  /** Whether an event marked the documented end of the stream. */
  isComplete(): boolean;
}

/**
 * Creates an accumulator; the generated text is joined (and deferred events parsed) only when
 * a result's generatedText is read. When no parsed event named the model, the first deferred
 * event that does is read for it.
 * @param readDeferred reads the facts of a deferred event
 */
export function createStreamAccumulator(
  readDeferred: (data: string) => EventFacts = () => ({}),
): StreamAccumulator {
  let usage: TokenUsage | undefined;
  let responseModel: string | undefined;
  // Either text already read, or the raw data of a deferred event (kept in stream order).
  const text: { text?: string; raw?: string }[] = [];
  let completed = false;
  let errored = false;

  const firstDeferredModel = (): string | undefined => {
    for (const entry of text) {
      const model = entry.raw === undefined ? undefined : readDeferred(entry.raw).responseModel;
      if (model !== undefined) return model;
    }
    return undefined;
  };

  return {
    apply(facts: EventFacts): void {
      if (facts.usage !== undefined) usage = facts.usage;
      if (facts.responseModel !== undefined) responseModel = facts.responseModel;
      if (facts.text !== undefined && facts.text !== '') text.push({ text: facts.text });
      if (facts.completed === true) completed = true;
      if (facts.errored === true) errored = true;
    },
    isComplete: () => completed,
    defer(data: string): void {
      text.push({ raw: data });
    },
    result(pending?: EventFacts): StreamResult {
      const model = pending?.responseModel ?? responseModel ?? firstDeferredModel();
      let generated: string | undefined;
      const out: StreamResult = {
        usage: { ...(pending?.usage ?? usage) },
        get generatedText(): string {
          generated ??=
            text.map((t) => t.text ?? readDeferred(t.raw ?? '').text ?? '').join('') + (pending?.text ?? '');
          return generated;
        },
        completed: completed || pending?.completed === true,
        errored: errored || pending?.errored === true,
      };
      if (model !== undefined) out.responseModel = model;
      return out;
    },
  };
}
