import type { ProviderAdapter, RouteMatch, ExtractedUsage } from '../providers/types.js';
import { jsonOutcomeUsage } from './call-meter.js';
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
  readonly #adapter: ProviderAdapter;
  readonly #route: RouteMatch;
  readonly #chunks: Buffer[] = [];
  #held: Buffer | undefined;

  constructor(ctx: AnswerContext, adapter: ProviderAdapter, route: RouteMatch) {
    this.#ctx = ctx;
    this.#adapter = adapter;
    this.#route = route;
  }

  read(decoded: Buffer): Buffer {
    this.#chunks.push(decoded);
    return decoded;
  }

  forward(bytes: Buffer): void {
    if (this.#held !== undefined) this.#ctx.reply.write(this.#held);
    this.#held = bytes;
  }

  async finish(end: AnswerEnd): Promise<void> {
    const ctx = this.#ctx;
    const nothingSent = !ctx.reply.started;
    const extracted = extractFromBody(this.#chunks, (json) => this.#adapter.extractUsage(this.#route, json));
    const interrupted = end.clientGone || end.failure !== undefined;
    const { usage, source, flags } = jsonOutcomeUsage(extracted, ctx.status, interrupted, ctx.promptText);
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
      ...(flags !== undefined ? { flags } : {}),
      ...outcomeBase(ctx),
    });
    endReply(ctx.reply, end, nothingSent, this.#held);
  }
}

/** Upstream bodies that are not JSON (or not the expected shape) carry no usage; never throws. */
function extractFromBody(
  chunks: Buffer[],
  extract: (json: unknown) => ExtractedUsage,
): ExtractedUsage | undefined {
  if (chunks.length === 0) return undefined;
  try {
    const text = (
      chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks)
    ).toString('utf8');
    return extract(JSON.parse(text));
  } catch {
    return undefined;
  }
}
