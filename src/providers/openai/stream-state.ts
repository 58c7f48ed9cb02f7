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
  /** The result so far; `pending` facts (an event still held back) are included, not stored. */
  result(pending?: EventFacts): StreamResult;
}

/** Creates an accumulator; the generated text is joined only when a result is asked for. */
export function createStreamAccumulator(): StreamAccumulator {
  let usage: TokenUsage | undefined;
  let responseModel: string | undefined;
  const text: string[] = [];
  let completed = false;
  let errored = false;

  return {
    apply(facts: EventFacts): void {
      if (facts.usage !== undefined) usage = facts.usage;
      if (facts.responseModel !== undefined) responseModel = facts.responseModel;
      if (facts.text !== undefined && facts.text !== '') text.push(facts.text);
      if (facts.completed === true) completed = true;
      if (facts.errored === true) errored = true;
    },
    result(pending?: EventFacts): StreamResult {
      const model = pending?.responseModel ?? responseModel;
      const out: StreamResult = {
        usage: { ...(pending?.usage ?? usage) },
        generatedText: text.join('') + (pending?.text ?? ''),
        completed: completed || pending?.completed === true,
        errored: errored || pending?.errored === true,
      };
      if (model !== undefined) out.responseModel = model;
      return out;
    },
  };
}
