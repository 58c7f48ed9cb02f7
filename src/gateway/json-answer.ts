import type { ProviderAdapter, RouteMatch } from '../providers/types.js';
import { jsonOutcomeUsage, warnInvalidUsage } from './call-meter.js';
import { createJsonAnswerReader, type JsonAnswerReader } from './json-answer-reader.js';
import {
  endReply,
  outcomeBase,
  recordStatus,
  warnUnreadable,
  type Answer,
  type AnswerContext,
  type AnswerEnd,
} from './relay-answer.js';

/**
 * A non-streamed answer: forwarded chunk by chunk except the latest, held back until the usage
 * is read and the record committed, so the client's last byte follows the commit.
 */
export class JsonAnswer implements Answer {
  readonly #ctx: AnswerContext;
  /** Reads usage as the bytes pass, holding a bounded part of the answer (json-answer-reader.ts). */
  readonly #reader: JsonAnswerReader;
  #held: Buffer | undefined;

  constructor(ctx: AnswerContext, adapter: ProviderAdapter, route: RouteMatch) {
    this.#ctx = ctx;
    this.#reader = createJsonAnswerReader(adapter, route, ctx.headers);
  }

  read(decoded: Buffer): Buffer {
    this.#reader.push(decoded);
    return decoded;
  }

  forward(bytes: Buffer): void {
    if (this.#held !== undefined) this.#ctx.reply.write(this.#held);
    this.#held = bytes;
  }

  async finish(end: AnswerEnd): Promise<void> {
    const ctx = this.#ctx;
    const nothingSent = !ctx.reply.started;
    const extracted = this.#reader.result();
    const interrupted = end.clientGone || end.failure !== undefined;
    const outcome = jsonOutcomeUsage(extracted, ctx.status, interrupted, ctx.promptText);
    warnInvalidUsage(ctx.log, ctx.backendId, outcome);
    const { usage, source, flags } = outcome;
    if (flags?.includes('usage_unreadable') === true)
      warnUnreadable(
        ctx,
        end.unreadable ?? (extracted === undefined ? 'not JSON' : 'no usage in the answer'),
      );
    await ctx.meter.finish({
      status: recordStatus(ctx, end, nothingSent),
      usage,
      source,
      ...(extracted?.responseModel !== undefined ? { responseModel: extracted.responseModel } : {}),
      ...(extracted?.providerCost !== undefined ? { providerCost: extracted.providerCost } : {}),
      ...(extracted?.tokenDetails !== undefined && source !== 'estimated'
        ? { tokenDetails: extracted.tokenDetails }
        : {}),
      flags: [...(extracted?.flags ?? []), ...(flags ?? [])],
      ...outcomeBase(ctx),
    });
    endReply(ctx.reply, end, nothingSent, this.#held);
  }
}
