import type { RecordFlag } from '../ledger/record.js';
import type { StreamResult, StreamTap } from '../providers/types.js';
import { hasUsage } from '../usage.js';
import { streamOutcomeUsage, warnInvalidUsage, type CallOutcome } from './call-meter.js';
import {
  endReply,
  outcomeBase,
  recordStatus,
  warnUnreadable,
  type Answer,
  type AnswerContext,
  type AnswerEnd,
} from './relay-answer.js';

const UNREADABLE: readonly RecordFlag[] = ['usage_unreadable'];

/**
 * A streamed answer read through the adapter's tap. Bytes go to the client as they arrive. Once
 * the tap has seen the stream's documented end (`isComplete`), the usage is final: the record
 * is committed then, the bytes that arrive while the commit is pending are held (the final
 * event among them), and what follows is forwarded as it comes, unbilled, until the upstream
 * ends. A stream without a documented end is committed when the upstream ends, before the end
 * of the response. Either way the record is in the ledger before the client's last byte.
 */
export class StreamAnswer implements Answer {
  readonly #ctx: AnswerContext;
  readonly #tap: StreamTap;
  /** False when the client gets the raw (compressed) bytes: the tap's output is not sent. */
  readonly #forwardsTap: boolean;
  #holding: Buffer[] | undefined;
  #commit: Promise<void> | undefined;

  constructor(ctx: AnswerContext, tap: StreamTap, forwardsTap: boolean) {
    this.#ctx = ctx;
    this.#tap = tap;
    this.#forwardsTap = forwardsTap;
  }

  read(decoded: Buffer): Buffer {
    const out = this.#tap.push(decoded);
    if (this.#commit === undefined && this.#tap.isComplete?.() === true) this.#commitAtEnd();
    return out;
  }

  forward(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.#holding !== undefined) this.#holding.push(bytes);
    else this.#ctx.reply.write(bytes);
  }

  async finish(end: AnswerEnd): Promise<void> {
    const ctx = this.#ctx;
    // Bytes are left to flush only when the stream stopped mid-event (a stripping tap holds an
    // event until its end); flushing also lets the tap read that last event.
    const flushed = this.#tap.flush();
    const tail = this.#forwardsTap && flushed.length > 0 ? flushed : undefined;
    if (this.#commit !== undefined) {
      await this.#commit;
    } else {
      const nothingSent = !ctx.reply.started;
      await ctx.meter.finish({
        ...this.#outcome(end),
        status: recordStatus(ctx, end, nothingSent),
      });
      endReply(ctx.reply, end, nothingSent, tail);
      return;
    }
    // Committed at the documented end: the record stands whatever happens after it.
    endReply(ctx.reply, end, false, tail);
  }

  #commitAtEnd(): void {
    this.#holding = [];
    const release = (): void => {
      const held = this.#holding ?? [];
      this.#holding = undefined;
      for (const bytes of held) this.#ctx.reply.write(bytes);
    };
    this.#commit = this.#ctx.meter
      .finish({ ...this.#outcome({ clientGone: false }), status: this.#ctx.status })
      .then(release, (err: unknown) => {
        this.#ctx.log.error({ err }, 'commit at the end of the stream failed');
        release();
      });
  }

  #outcome(end: AnswerEnd): CallOutcome {
    const ctx = this.#ctx;
    const interrupted = end.clientGone || end.failure !== undefined;
    const result = this.#tap.result();
    const outcome = streamOutcomeUsage(result, ctx.status, interrupted, ctx.promptText);
    warnInvalidUsage(ctx.log, ctx.backendId, outcome);
    const { usage, source, flags = [] } = outcome;
    const unreadable = unreadableReason(result, ctx.status, interrupted, end.unreadable);
    if (unreadable !== undefined) warnUnreadable(ctx, unreadable);
    return {
      status: ctx.status,
      usage,
      source,
      ...(result.responseModel !== undefined ? { responseModel: result.responseModel } : {}),
      ...(result.providerCost !== undefined ? { providerCost: result.providerCost } : {}),
      ...(result.tokenDetails !== undefined && source !== 'estimated'
        ? { tokenDetails: result.tokenDetails }
        : {}),
      flags: [...(result.flags ?? []), ...flags, ...(unreadable !== undefined ? UNREADABLE : [])],
      ...outcomeBase(ctx),
    };
  }
}

/**
 * Why a successful stream's usage could not be read, if it could not: its bytes could not be
 * decoded, or it ended normally without usage and without reaching its documented end (the tap
 * could make nothing of it). A complete stream without usage (a backend that never sends any)
 * is estimated as designed, not flagged; one cut short is `partial`, not unreadable.
 */
function unreadableReason(
  result: StreamResult,
  status: number,
  interrupted: boolean,
  undecodable: string | undefined,
): string | undefined {
  if (status < 200 || status >= 300 || result.errored || hasUsage(result.usage)) return undefined;
  if (undecodable !== undefined) return undecodable;
  return !interrupted && !result.completed ? 'no usage and no documented end in the stream' : undefined;
}
