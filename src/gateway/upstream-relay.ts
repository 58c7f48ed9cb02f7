import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { TokenmeterError } from '../errors.js';
import { estimateTokens } from '../providers/estimate.js';
import type { ProviderAdapter, RouteMatch } from '../providers/types.js';
import { SNIFF_LIMIT, sniffAnswerKind, type SniffedKind } from './answer-sniffer.js';
import type { CallMeter } from './call-meter.js';
import { ClientReply } from './client-reply.js';
import {
  createBodyDecoder,
  readAnswerCoding,
  type BodyDecoder,
  type DecoderSink,
} from './content-decoding.js';
import { clientResponseHeaders } from './headers.js';
import { JsonAnswer } from './json-answer.js';
import { parseJsonBody } from './read-body.js';
import type { Answer, AnswerContext } from './relay-answer.js';
import { StreamAnswer } from './stream-answer.js';

/** What relaying one call needs. */
export interface RelayInit {
  res: ServerResponse;
  meter: CallMeter;
  adapter: ProviderAdapter;
  route: RouteMatch;
  /**
   * The client's request body as received. Kept as bytes, not as the parsed JSON: a call's
   * objects that live as long as the call get promoted by the young-generation GC under load.
   */
  requestBody: Buffer;
  stripUsageChunk: boolean;
  /** gateway.maxEventBytes: the largest stream event a tap reads. */
  maxEventBytes: number;
  backendId: string;
  log: Logger;
}

/**
 * Informational (1xx) answers accepted before the final one; a backend that sends more is
 * treated as failing (undici re-arms its headers timeout at each, so they could go on forever).
 */
export const MAX_INFORMATIONAL_ANSWERS = 32;

type Ending = { kind: 'end' } | { kind: 'error'; error: Error };

/**
 * How the body goes through: `plain` (identity: the tap's output goes to the client),
 * `observe` (compressed: decoded for the tap, the raw bytes go to the client once decoded),
 * `decoded` (compressed, and the tap must strip a chunk: the client gets the decoded, stripped
 * bytes without content-encoding), `opaque` (a coding the gateway cannot decode: relayed raw,
 * nothing read).
 */
type BodyMode = 'plain' | 'observe' | 'decoded' | 'opaque';

/** Content types of newline-delimited JSON streams (application/x-ndjson, application/jsonl, …). */
const NDJSON_LABEL = /^\s*application\/(?:x-)?(?:ndjson|jsonl|json-lines)\b/i;

/** Sniffed bytes looked at whole; past them, only the new chunk and the last bytes before it. */
const SNIFF_WHOLE_BYTES = 256;
/** Longer than any SSE field prefix the sniffer waits on (`retry:`). */
const SNIFF_TAIL_BYTES = 8;

const PAUSED_BY_CLIENT = 1;
const PAUSED_BY_DECODER = 2;

/**
 * Forwards one call and relays the answer as an undici dispatch handler: bytes are handed on as
 * they arrive, with no stream objects in between (the same path undici's own interceptors use).
 * Informational answers are dropped (103 Early Hints passed on); the final answer's head is sent
 * with its first byte, so that an upstream failing before that gets a 502 instead of a 200 cut
 * short. Compressed answers are decoded for the usage readers; an answer whose content type
 * lies is recognised by its first bytes. The record is committed exactly once, before the
 * client's last byte, whether the call ends, the upstream fails or the client goes away.
 * Resolves when all of that is done.
 */
export function relayUpstream(
  dispatcher: Dispatcher,
  options: Dispatcher.DispatchOptions,
  init: RelayInit,
): Promise<void> {
  return new Promise((resolve) => {
    dispatcher.dispatch(options, new UpstreamRelay(init, resolve));
  });
}

/** One call's relay: the undici handler, and the sink of the decoder when the answer is compressed. */
class UpstreamRelay implements Dispatcher.DispatchHandler, DecoderSink {
  readonly #init: RelayInit;
  readonly #done: () => void;
  readonly #reply: ClientReply;
  #controller: Dispatcher.DispatchController | undefined;
  /** The request reached a connection: the backend may have the prompt. */
  #promptSent = false;
  #informational = 0;
  #status = 0;
  #headers: IncomingHttpHeaders = {};
  #mode: BodyMode = 'plain';
  #decoder: BodyDecoder | undefined;
  /** Why the body cannot be read, when it cannot (unknown coding). */
  #unreadable: string | undefined;
  #answer: Answer | undefined;
  /** Bytes seen before the answer's kind is known: decoded ones, and raw ones in observe mode. */
  #sniffed: Buffer[] | undefined;
  #sniffedRaw: Buffer[] | undefined;
  #sniffedBytes = 0;
  /** Decoded bytes sniffed, and the last of them (see #sniff). */
  #sniffedDecoded = 0;
  #sniffTail: Buffer | undefined;
  #pausedBy = 0;
  #ended = false;

  constructor(init: RelayInit, done: () => void) {
    this.#init = init;
    this.#done = done;
    this.#reply = new ClientReply(init.res, (full) => this.#throttle(PAUSED_BY_CLIENT, full));
    init.res.on('close', () => {
      if (init.res.writableFinished || this.#ended) return;
      this.#reply.gone = true;
      this.#controller?.abort(new Error('client closed the connection'));
    });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#reply.gone) controller.abort(new Error('client closed the connection'));
    else this.#promptSent = true;
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    if (statusCode < 200) {
      this.#onInformational(controller, statusCode, headers);
      return;
    }
    this.#status = statusCode;
    this.#headers = headers;
    const coding = readAnswerCoding(headers);
    if ('unknown' in coding) {
      this.#mode = 'opaque';
      this.#unreadable = `content-encoding "${coding.unknown}" cannot be decoded`;
      // Nothing can be read: the label decides, and a chunk the client did not ask for could
      // not be removed, so such a stream is not relayed at all.
      if (this.#decide('other') && this.#init.stripUsageChunk) {
        controller.abort(
          new TokenmeterError(
            'TM_UPSTREAM_UNAVAILABLE',
            `Backend "${this.#init.backendId}" answered in a content-encoding the gateway cannot decode (${coding.unknown}).`,
          ),
        );
      }
      return;
    }
    if (coding.coding !== 'identity') {
      this.#mode = this.#init.stripUsageChunk ? 'decoded' : 'observe';
      this.#decoder = createBodyDecoder(coding.coding, this);
    }
    this.#sniffed = [];
    if (this.#mode === 'observe') this.#sniffedRaw = [];
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#reply.gone) return;
    if (this.#mode === 'plain') {
      if (this.#answer !== undefined) this.#answer.forward(this.#answer.read(chunk));
      else this.#sniff(chunk);
    } else if (this.#decoder !== undefined) this.#decoder.write(chunk);
    else this.#answer?.forward(chunk);
  }

  onResponseEnd(): void {
    this.#settle({ kind: 'end' });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.#settle({ kind: 'error', error });
  }

  /** DecoderSink: decoded bytes of a compressed answer. */
  decoded(chunk: Buffer): void {
    if (this.#answer === undefined) this.#sniff(chunk);
    else if (this.#mode === 'decoded') this.#answer.forward(this.#answer.read(chunk));
    else this.#answer.read(chunk);
  }

  /** DecoderSink: a raw chunk whose decoded bytes the tap has seen. */
  passed(raw: Buffer): void {
    if (this.#mode !== 'observe') return;
    if (this.#answer !== undefined) {
      this.#answer.forward(raw);
      return;
    }
    this.#sniffedRaw?.push(raw);
    this.#sniffedBytes += raw.length;
    if (this.#sniffedBytes >= SNIFF_LIMIT) this.#decide('other');
  }

  /** DecoderSink: zlib's input is full or has room again. */
  backlog(full: boolean): void {
    this.#throttle(PAUSED_BY_DECODER, full);
  }

  /**
   * 1xx answers: 103 Early Hints goes on to the client (its Link header only; HTTP/1.1 clients),
   * 101 on a POST is a protocol switch nobody asked for (the call fails), the others are dropped
   * (RFC 9110 §15.2: a client MUST be able to parse them, a user agent MAY ignore them; a
   * gateway answers as an origin server). A 100 Continue never gets here: undici 7 closes the
   * connection on one it did not ask for, so the upstream sockets remove it first
   * (upstream-socket.ts); one they leave (malformed, too long) is a failing upstream.
   */
  #onInformational(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    this.#informational += 1;
    if (statusCode === 101 || this.#informational > MAX_INFORMATIONAL_ANSWERS) {
      controller.abort(
        new TokenmeterError(
          'TM_UPSTREAM_UNAVAILABLE',
          statusCode === 101
            ? `Backend "${this.#init.backendId}" switched protocols instead of answering.`
            : `Backend "${this.#init.backendId}" sent more than ${MAX_INFORMATIONAL_ANSWERS} informational answers.`,
        ),
      );
      return;
    }
    const { res } = this.#init;
    const link = headers.link;
    if (statusCode !== 103 || link === undefined || this.#reply.gone || res.headersSent) return;
    if (res.req.httpVersionMajor < 1 || (res.req.httpVersionMajor === 1 && res.req.httpVersionMinor < 1))
      return;
    try {
      res.writeEarlyHints({ link });
    } catch {
      // Node refuses Link values it cannot check: such a hint is dropped.
    }
  }

  /**
   * Collects leading decoded bytes until the answer's kind can be told. Past the first few
   * hundred bytes an undecided answer can only be leading whitespace, maybe ending in part of
   * a field name: the new chunk is then looked at with the last bytes before it only, so a
   * backend trickling whitespace byte by byte costs linear work, not a growing concatenation.
   */
  #sniff(chunk: Buffer): void {
    const sniffed = (this.#sniffed ??= []);
    sniffed.push(chunk);
    this.#sniffedBytes += chunk.length;
    this.#sniffedDecoded += chunk.length;
    let bytes: Buffer;
    if (sniffed.length === 1) bytes = chunk;
    else if (this.#sniffedDecoded <= SNIFF_WHOLE_BYTES) bytes = Buffer.concat(sniffed);
    else bytes = Buffer.concat([this.#sniffTail ?? Buffer.alloc(0), chunk]);
    this.#sniffTail = bytes.subarray(Math.max(0, bytes.length - SNIFF_TAIL_BYTES));
    const kind = sniffAnswerKind(bytes) ?? (this.#sniffedBytes >= SNIFF_LIMIT ? 'other' : undefined);
    if (kind !== undefined) this.#decide(kind);
  }

  /**
   * Chooses how the answer is read, from its content type unless its first bytes say otherwise,
   * sets the client's head, and replays what was collected meanwhile. Returns whether it is
   * read as a stream.
   */
  #decide(kind: SniffedKind): boolean {
    const { adapter, route, stripUsageChunk, maxEventBytes, backendId, log } = this.#init;
    const label = String(this.#headers['content-type'] ?? '');
    // A stream of JSON lines (Ollama's NDJSON) starts like a JSON answer: its label stands.
    const contentType =
      kind === 'sse'
        ? 'text/event-stream'
        : kind === 'json' && !NDJSON_LABEL.test(label)
          ? 'application/json'
          : label;
    const isStream =
      adapter.isStreamedResponse?.(route, contentType) ?? contentType.includes('text/event-stream');
    const ctx = this.#answerContext();
    const tapOptions = {
      stripUsageChunk,
      maxEventBytes,
      contentType,
      onEventTooLarge: () =>
        log.warn(
          { backend: backendId, maxEventBytes },
          'stream event larger than gateway.maxEventBytes: forwarded unread',
        ),
    };
    const answer = isStream
      ? new StreamAnswer(ctx, adapter.createStreamTap(route, tapOptions), this.#mode !== 'observe')
      : new JsonAnswer(ctx, adapter, route);
    this.#reply.setHead(this.#status, this.#clientHeaders(isStream));
    this.#answer = answer;
    const sniffed = this.#sniffed ?? [];
    const raw = this.#sniffedRaw ?? [];
    this.#sniffed = undefined;
    this.#sniffedRaw = undefined;
    for (const chunk of sniffed) {
      const out = answer.read(chunk);
      if (this.#mode !== 'observe') answer.forward(out);
    }
    for (const chunk of raw) answer.forward(chunk);
    return isStream;
  }

  #clientHeaders(isStream: boolean): OutgoingHttpHeaders {
    const headers = clientResponseHeaders(this.#headers, !isStream && this.#mode !== 'decoded');
    // The client gets the decoded bytes: they are no longer in the backend's coding.
    if (this.#mode === 'decoded') delete headers['content-encoding'];
    return headers;
  }

  #answerContext(): AnswerContext {
    const { meter, backendId, log, adapter, route, requestBody } = this.#init;
    return {
      reply: this.#reply,
      meter,
      status: this.#status,
      headers: this.#headers,
      promptText: () => adapter.promptText(route, parseJsonBody(requestBody)),
      backendId,
      log,
    };
  }

  #throttle(reason: number, full: boolean): void {
    const before = this.#pausedBy;
    this.#pausedBy = full ? before | reason : before & ~reason;
    if (before === 0 && this.#pausedBy !== 0) this.#controller?.pause();
    else if (before !== 0 && this.#pausedBy === 0) this.#controller?.resume();
  }

  #settle(ending: Ending): void {
    this.#finish(ending).then(this.#done, (err: unknown) => {
      this.#init.log.error({ err }, 'relay failed');
      this.#init.res.destroy();
      this.#done();
    });
  }

  async #finish(ending: Ending): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    const { log, backendId } = this.#init;
    const clientGone = this.#reply.gone;
    // Every byte received is decoded and handed on before the answer ends.
    if (this.#decoder !== undefined) {
      await this.#decoder.end();
      const error = this.#decoder.error;
      if (error !== undefined) this.#unreadable ??= `the body could not be decoded (${error.message})`;
    }
    if (this.#status === 0) {
      await this.#finishUnanswered(ending);
      return;
    }
    const answer = this.#answer ?? this.#decideAtEnd();
    let failure: TokenmeterError | undefined;
    if (ending.kind === 'error' && !clientGone) {
      failure = upstreamFailure(ending.error, backendId);
      log.warn({ err: ending.error, backend: backendId }, 'upstream response ended abruptly');
    } else if (this.#mode === 'decoded' && this.#decoder?.error !== undefined && !clientGone) {
      // The client was getting the decoded bytes: the rest of the answer cannot reach it.
      failure = new TokenmeterError('TM_UPSTREAM_UNAVAILABLE', `Backend "${backendId}" sent a corrupt body.`);
      log.warn({ err: this.#decoder.error, backend: backendId }, 'upstream body could not be decoded');
    }
    await answer.finish({
      clientGone,
      ...(failure !== undefined ? { failure } : {}),
      ...(this.#unreadable !== undefined ? { unreadable: this.#unreadable } : {}),
    });
  }

  #decideAtEnd(): Answer {
    this.#decide('other');
    if (this.#answer === undefined) throw new Error('no answer after deciding');
    return this.#answer;
  }

  /**
   * No final answer: the backend could not be reached, did not answer in time, answered
   * nothing usable, or the client left first. Once the request reached a connection the backend
   * may have read the whole prompt: its estimated tokens are recorded, marked `partial`.
   */
  async #finishUnanswered(ending: Ending): Promise<void> {
    const { meter, log, backendId, adapter, route, requestBody } = this.#init;
    const clientGone = this.#reply.gone;
    const failure =
      ending.kind === 'error'
        ? upstreamFailure(ending.error, backendId)
        : new TokenmeterError('TM_UPSTREAM_UNAVAILABLE', `Backend "${backendId}" sent no answer.`);
    const usage = this.#promptSent
      ? { promptTokens: estimateTokens(adapter.promptText(route, parseJsonBody(requestBody))) }
      : {};
    await meter.finish({
      status: clientGone ? 499 : failure.status,
      usage,
      source: this.#promptSent ? 'partial' : 'reported',
    });
    if (clientGone) return;
    log.warn(
      { err: ending.kind === 'error' ? ending.error : undefined, backend: backendId },
      'upstream request failed',
    );
    this.#reply.fail(failure);
  }
}

/** The error a client gets for an upstream failure: timeouts are 504, anything else 502. */
function upstreamFailure(err: Error, backendId: string): TokenmeterError {
  if (err instanceof TokenmeterError) return err;
  return isTimeout(err)
    ? new TokenmeterError('TM_UPSTREAM_TIMEOUT', `Backend "${backendId}" did not answer in time.`)
    : new TokenmeterError('TM_UPSTREAM_UNAVAILABLE', `Backend "${backendId}" could not be reached.`);
}

/** undici's timeout errors (connect, headers, body): the backend is too slow, not unreachable. */
function isTimeout(err: Error): boolean {
  const code = (err as { code?: unknown }).code;
  return (
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT'
  );
}
