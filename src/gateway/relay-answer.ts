import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { TokenmeterError } from '../errors.js';
import type { CallMeter, CallOutcome } from './call-meter.js';
import type { ClientReply } from './client-reply.js';
import { upstreamRequestId } from './headers.js';

/**
 * The contract between the relay (upstream-relay.ts) and the two ways an answer ends: a JSON
 * answer (json-answer.ts) and a stream read through a tap (stream-answer.ts).
 */

/** What an answer's ending needs to know about the call. */
export interface AnswerContext {
  reply: ClientReply;
  meter: CallMeter;
  /** The backend's final status. */
  status: number;
  headers: IncomingHttpHeaders;
  /** The prompt's text, for estimation (parses the request body again: call only if needed). */
  promptText: () => string;
  backendId: string;
  log: Logger;
}

/** How the upstream answer ended. */
export interface AnswerEnd {
  /** The client went away before the end. */
  clientGone: boolean;
  /**
   * Set when the upstream failed before the end of its answer (or the answer could not be
   * relayed): the error the client gets if no byte of the answer reached it yet.
   */
  failure?: TokenmeterError;
  /** Why the body could not be read at all or in full (undecodable, unknown coding), if so. */
  unreadable?: string;
}

/**
 * One answer being relayed. The relay hands it the decoded body (`read`) and the bytes for the
 * client (`forward`: the read output, or the raw bytes when a compressed answer goes out as
 * received), then calls `finish` exactly once.
 */
export interface Answer {
  /** Reads decoded bytes for usage; returns what the client gets when it gets decoded bytes. */
  read(decoded: Buffer): Buffer;
  /** Sends bytes to the client, or holds them back as the ending requires. */
  forward(bytes: Buffer): void;
  /** Commits the record (unless already committed), then ends, cuts or fails the client's response. */
  finish(end: AnswerEnd): Promise<void>;
}

/**
 * The status a record carries: what the client saw. A client that got no byte of the answer
 * saw no status: 499 when it left, the gateway's error status when the upstream failed.
 */
export function recordStatus(ctx: AnswerContext, end: AnswerEnd, nothingSent: boolean): number {
  if (!nothingSent) return ctx.status;
  if (end.clientGone) return 499;
  return end.failure?.status ?? ctx.status;
}

/** The parts of an outcome every answer carries: the provider's request id. */
export function outcomeBase(ctx: AnswerContext): Pick<CallOutcome, 'upstreamRequestId'> {
  const requestId = upstreamRequestId(ctx.headers);
  return requestId !== undefined ? { upstreamRequestId: requestId } : {};
}

/** Logs, naming the backend, that a successful answer's usage could not be read. */
export function warnUnreadable(ctx: AnswerContext, reason: string): void {
  ctx.log.warn(
    { backend: ctx.backendId, status: ctx.status, reason },
    'usage unreadable in a successful answer: tokens estimated',
  );
}

/** Ends the client's response as the upstream ended: whole, cut after what was sent, or an error. */
export function endReply(
  reply: ClientReply,
  end: AnswerEnd,
  nothingSent: boolean,
  tail: Buffer | undefined,
): void {
  if (end.clientGone) return;
  if (end.failure === undefined) reply.end(tail);
  else if (nothingSent) reply.fail(end.failure);
  else reply.cut(tail);
}
