import { capLedgerValue } from '../dimensions/value-cap.js';
import type { RecordIdGenerator } from '../ledger/record-id.js';
import type { DefaultDimensions, RecordFlag, UsageRecord } from '../ledger/record.js';
import { estimateTokens, estimateUsage } from '../providers/estimate.js';
import type { ExtractedUsage, StreamResult } from '../providers/types.js';
import {
  hasUsage,
  invalidUsageFields,
  withDerivedTotal,
  type TokenDetails,
  type TokenUsage,
  type UsageSource,
} from '../usage.js';
import type { Logger } from 'pino';
import type { RecordSink } from './record-sink.js';

/** How a call ended, as the proxy saw it. */
export interface CallOutcome {
  status: number;
  usage: TokenUsage;
  source: UsageSource;
  responseModel?: string;
  upstreamRequestId?: string;
  /** The cost the provider reported for the call (ExtractedUsage.providerCost). */
  providerCost?: number;
  /** How the counts divide by modality (ExtractedUsage.tokenDetails). */
  tokenDetails?: TokenDetails;
  /** What the relay had to do to bill the call (added to the flags the call started with). */
  flags?: readonly RecordFlag[];
}

export interface CallMeterInit {
  time: number;
  startedAt: number;
  dimensions: DefaultDimensions;
  custom: Record<string, string>;
  sink: RecordSink;
  /** The gateway's record id generator (time-ordered ids). */
  nextId: RecordIdGenerator;
  /**
   * Prices the call, given the model the provider says answered (the asked-for model is in the
   * dimensions the pricer was built with) and how its counts divide by modality (audio and
   * image tokens have their own rates); undefined = unpriced.
   */
  costOf: (
    responseModel: string | undefined,
    usage: TokenUsage,
    tokenDetails?: TokenDetails,
  ) => number | undefined;
  /** False for routes that are forwarded but never billed (count_tokens): finish() commits nothing. */
  metered?: boolean;
  /** Flags known before forwarding (e.g. a dimension value cut to the ledger's maximum). */
  flags?: readonly RecordFlag[];
  /**
   * Called with the record once the sink has taken it (ledger or fallback journal), before
   * finish() resolves: the call trace's view of what was committed. Never for unmetered routes.
   */
  onRecord?: ((record: UsageRecord) => void) | undefined;
}

/**
 * Meters one call exactly once, whichever comes first: the end of the response, an upstream
 * error or the client going away.
 */
export interface CallMeter {
  /** Commits the record; later calls are ignored and resolve at once. */
  finish(outcome: CallOutcome): Promise<void>;
  readonly finished: boolean;
}

export function createCallMeter(init: CallMeterInit): CallMeter {
  let finished = false;
  return {
    get finished() {
      return finished;
    },
    finish(outcome) {
      if (finished) return Promise.resolve();
      finished = true;
      if (init.metered === false) return Promise.resolve();
      const record: UsageRecord = {
        id: init.nextId(init.time),
        time: init.time,
        ...init.dimensions,
        ...withDerivedTotal(outcome.usage),
        custom: init.custom,
        source: outcome.source,
        status: outcome.status,
        latencyMs: Math.round((performance.now() - init.startedAt) * 1000) / 1000,
      };
      // The answering model comes from the backend's answer (which may echo a client's model of
      // any length): capped like every other dimension, and flagged when cut.
      const responseModel =
        outcome.responseModel === undefined ? undefined : capLedgerValue(outcome.responseModel);
      if (responseModel !== undefined) record.responseModel = responseModel;
      if (outcome.upstreamRequestId !== undefined) record.upstreamRequestId = outcome.upstreamRequestId;
      const cost = init.costOf(responseModel, outcome.usage, outcome.tokenDetails);
      if (cost !== undefined) record.cost = cost;
      if (outcome.providerCost !== undefined) record.providerCost = outcome.providerCost;
      if (outcome.tokenDetails !== undefined) record.tokenDetails = outcome.tokenDetails;
      const cut: readonly RecordFlag[] =
        responseModel !== outcome.responseModel ? ['dimension_truncated'] : [];
      const flags = mergeFlags(init.flags, outcome.flags, cut);
      if (flags.length > 0) record.flags = flags;
      const committed = init.sink.commit(record);
      const { onRecord } = init;
      return onRecord === undefined ? committed : committed.then(() => onRecord(record));
    },
  };
}

/** The flags of several lists, each once, in the order they first appear. */
function mergeFlags(...lists: (readonly RecordFlag[] | undefined)[]): RecordFlag[] {
  return [...new Set(lists.flatMap((list) => list ?? []))];
}

/** The usage decision for a call: counts, their source, and the flags the decision raised. */
export interface UsageOutcome {
  usage: TokenUsage;
  source: UsageSource;
  /** `usage_invalid` when the provider's counts were screened out (then `invalidFields` says which). */
  flags?: RecordFlag[];
  /** The normalised fields that held absurd counts (for the warning log). */
  invalidFields?: (keyof TokenUsage)[];
}

/** The provider's usage after the absurd-count screen (issue #7, class 6). */
interface ScreenedUsage {
  /** The usage to decide on: the provider's, or nothing when any count was absurd. */
  usage: TokenUsage;
  /** Adds the `usage_invalid` flag and the fields to an outcome when the screen removed counts. */
  mark(outcome: UsageOutcome): UsageOutcome;
}

/**
 * Screens a provider's usage before any decision: one absurd count (negative, fractional,
 * above MAX_TOKEN_COUNT, not a number, or a total below prompt + completion) and the whole usage
 * is treated as not reported, so the call is estimated like one whose provider sent none; a
 * backend that sends one absurd figure is not trusted for the others.
 */
function screenReportedUsage(usage: TokenUsage): ScreenedUsage {
  const invalid = invalidUsageFields(usage);
  if (invalid.length === 0) return { usage, mark: (outcome) => outcome };
  return {
    usage: {},
    mark: (outcome) => ({
      ...outcome,
      flags: [...(outcome.flags ?? []), 'usage_invalid'],
      invalidFields: invalid,
    }),
  };
}

/** Logs the backend and the fields whose counts were screened out; nothing when there were none. */
export function warnInvalidUsage(log: Logger, backend: string, outcome: UsageOutcome): void {
  if (outcome.invalidFields === undefined || outcome.invalidFields.length === 0) return;
  log.warn(
    { backend, fields: outcome.invalidFields },
    'backend reported token counts that are not sane counts: not billed, tokens estimated',
  );
}

/**
 * Usage for a finished or interrupted stream. Reported usage wins; where the provider sent none
 * the counts are estimated with the tokenizer (prompt from the request, completion from the
 * streamed text kept). A stream that did not reach its documented end is `partial`.
 *
 * A stream with an event over `gateway.maxEventBytes` (forwarded unread) is flagged
 * `event_too_large`: if the provider's usage was still read after it, its counts stand (they
 * are the provider's own); if not (none at all, or only a snapshot from before it), the call is
 * estimated from what could be read.
 */
export function streamOutcomeUsage(
  result: StreamResult,
  status: number,
  interrupted: boolean,
  promptText: () => string,
): UsageOutcome {
  const screen = screenReportedUsage(result.usage);
  const tooLarge = result.eventTooLarge === true;
  const flags: RecordFlag[] = tooLarge ? ['event_too_large'] : [];
  const cut = interrupted || !result.completed;
  if (hasUsage(screen.usage) && (!tooLarge || result.usageAfterTooLarge === true)) {
    const source = cut && !result.errored ? 'partial' : 'reported';
    return screen.mark({ usage: screen.usage, source, flags });
  }
  if (status < 200 || status >= 300 || result.errored)
    return screen.mark({ usage: {}, source: 'reported', flags });
  return screen.mark({
    usage: estimateUsage(promptText(), result.generatedText),
    source: cut ? 'partial' : 'estimated',
    flags,
  });
}

/**
 * Usage for a non-streamed answer. The provider's counts when it reported any. A successful
 * (2xx) answer whose usage cannot be read (not JSON, undecodable, no usage anywhere) is never
 * `reported` with nothing: tokenizer counts (the prompt, and the generated text when the adapter
 * could read it) marked `estimated` and flagged `usage_unreadable`. An answer cut short or
 * abandoned by the client is `partial`: the counts read from what arrived, else, for a
 * successful answer, the estimated prompt (the backend had it whole).
 */
export function jsonOutcomeUsage(
  extracted: ExtractedUsage | undefined,
  status: number,
  interrupted: boolean,
  promptText: () => string,
): UsageOutcome {
  const reported = extracted?.usage ?? {};
  const screen = screenReportedUsage(reported);
  const usage = screen.usage;
  const success = status >= 200 && status < 300;
  if (interrupted) {
    if (hasUsage(usage) || !success) return screen.mark({ usage, source: 'partial' });
    return screen.mark({ usage: { promptTokens: estimateTokens(promptText()) }, source: 'partial' });
  }
  if (hasUsage(usage) || !success) return screen.mark({ usage, source: 'reported' });
  const prompt = promptText();
  // No text read: the completion is unknown, not zero.
  const estimated =
    extracted?.generatedText === undefined
      ? { promptTokens: estimateTokens(prompt) }
      : estimateUsage(prompt, extracted.generatedText, extracted.unreadOutputBytes);
  // Counts that were there but absurd are flagged usage_invalid (by the screen), not unreadable.
  const flags: RecordFlag[] = hasUsage(reported) ? [] : ['usage_unreadable'];
  return screen.mark({ usage: estimated, source: 'estimated', flags });
}
