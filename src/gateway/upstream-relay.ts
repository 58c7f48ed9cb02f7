import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { TokenmeterError } from '../errors.js';
import type { ProviderAdapter, RouteMatch, StreamTap } from '../providers/types.js';
import {
  jsonOutcomeUsage,
  streamOutcomeUsage,
  warnInvalidUsage,
  type CallMeter,
  type CallOutcome,
} from './call-meter.js';
import { clientResponseHeaders, upstreamRequestId } from './headers.js';
import { createJsonAnswerReader } from './json-answer-reader.js';
import { parseJsonBody } from './read-body.js';
import { sendError } from './send-error.js';

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
  backendId: string;
  log: Logger;
}

type Ending = { kind: 'end' } | { kind: 'error'; error: Error };

/**
 * Forwards one call and relays the answer as an undici dispatch handler: bytes are handed on as
 * they arrive, with no stream objects in between (the same path undici's own interceptors use).
 * SSE answers go chunk by chunk through the adapter's tap; JSON answers are forwarded chunk by
 * chunk except the latest, held back until the usage is read. The record is committed before
 * the response ends, exactly once, whether the call ends, the upstream fails or the client
 * goes away. Resolves when all of that is done.
 */
export function relayUpstream(
  dispatcher: Dispatcher,
  options: Dispatcher.DispatchOptions,
  init: RelayInit,
): Promise<void> {
  return new Promise((resolve) => {
    const { res, meter, adapter, route, log } = init;
    let controller: Dispatcher.DispatchController | undefined;
    let clientGone = false;
    let status = 0;
    let headers: IncomingHttpHeaders = {};
    let tap: StreamTap | undefined;
    const answer = createJsonAnswerReader(adapter, route);
    let held: Buffer | undefined;
    let waitingForDrain = false;
    let ended = false;

    const promptText = (): string => adapter.promptText(route, parseJsonBody(init.requestBody));
    const resume = (): void => {
      waitingForDrain = false;
      controller?.resume();
    };
    // A slow client pauses the upstream read instead of growing the gateway's memory.
    const write = (chunk: Buffer): void => {
      if (chunk.length === 0 || res.write(chunk) || waitingForDrain) return;
      waitingForDrain = true;
      controller?.pause();
      res.once('drain', resume);
    };

    res.on('close', () => {
      if (res.writableFinished || ended) return;
      clientGone = true;
      controller?.abort(new Error('client closed the connection'));
    });

    const finish = async (ending: Ending): Promise<void> => {
      if (ended) return;
      ended = true;
      const cut = ending.kind === 'error' && !clientGone;
      if (cut && status !== 0)
        log.warn({ err: ending.error, backend: init.backendId }, 'upstream response ended abruptly');
      const requestId = upstreamRequestId(headers);
      const common: Pick<CallOutcome, 'upstreamRequestId'> =
        requestId !== undefined ? { upstreamRequestId: requestId } : {};
      let tail: Buffer | undefined = held;
      if (status === 0) {
        // No answer at all: the backend could not be reached, did not answer in time, or the
        // client left first.
        const timedOut = ending.kind === 'error' && isTimeout(ending.error);
        const errorStatus = timedOut ? 504 : 502;
        await meter.finish({ status: clientGone ? 499 : errorStatus, usage: {}, source: 'reported' });
        if (!clientGone) {
          log.warn(
            { err: ending.kind === 'error' ? ending.error : undefined, backend: init.backendId },
            'upstream request failed',
          );
          sendError(
            res,
            timedOut
              ? new TokenmeterError(
                  'TM_UPSTREAM_TIMEOUT',
                  `Backend "${init.backendId}" did not answer in time.`,
                )
              : new TokenmeterError(
                  'TM_UPSTREAM_UNAVAILABLE',
                  `Backend "${init.backendId}" could not be reached.`,
                ),
          );
        }
        return;
      }
      if (tap !== undefined) {
        const flushed = tap.flush();
        // Bytes are left to flush only when the stream stopped mid-event: the held ones (often the
        // whole answer of a fast upstream) usually go out as they are, not copied.
        if (flushed.length > 0) tail = held === undefined ? flushed : Buffer.concat([held, flushed]);
        const result = tap.result();
        const outcome = streamOutcomeUsage(result, status, clientGone || cut, promptText);
        warnInvalidUsage(log, init.backendId, outcome);
        const { usage, source, flags } = outcome;
        await meter.finish({
          status,
          usage,
          source,
          ...(flags !== undefined ? { flags } : {}),
          ...(result.responseModel !== undefined ? { responseModel: result.responseModel } : {}),
          ...common,
        });
      } else {
        const extracted = clientGone || cut ? undefined : answer.result();
        const outcome = jsonOutcomeUsage(extracted, status, clientGone || cut, promptText);
        warnInvalidUsage(log, init.backendId, outcome);
        const { usage, source, flags } = outcome;
        await meter.finish({
          status,
          usage,
          source,
          ...(flags !== undefined ? { flags } : {}),
          ...(extracted?.responseModel !== undefined ? { responseModel: extracted.responseModel } : {}),
          ...common,
        });
      }
      if (clientGone) return;
      if (cut) {
        // The client gets what the upstream sent, cut where the upstream cut it.
        if (tail !== undefined && tail.length > 0) res.write(tail);
        res.destroy();
        return;
      }
      res.end(tail);
    };
    const settle = (ending: Ending): void => {
      finish(ending).then(resolve, (err: unknown) => {
        log.error({ err }, 'relay failed');
        res.destroy();
        resolve();
      });
    };

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (clientGone) c.abort(new Error('client closed the connection'));
      },
      onResponseStart(_c, statusCode, responseHeaders) {
        status = statusCode;
        headers = responseHeaders;
        const contentType = String(responseHeaders['content-type'] ?? '');
        const isStream =
          adapter.isStreamedResponse?.(route, contentType) ?? contentType.includes('text/event-stream');
        res.writeHead(statusCode, clientResponseHeaders(responseHeaders, !isStream));
        // Headers leave with the first chunk, as a plain proxy sends them.
        if (isStream) tap = adapter.createStreamTap(route, { stripUsageChunk: init.stripUsageChunk });
      },
      onResponseData(_c, chunk) {
        if (clientGone) return;
        if (tap !== undefined) {
          const out = tap.push(chunk);
          // Once the stream's final event is in, its bytes wait for the commit and leave with
          // the end of the response (one write, and the client's last event after the record).
          if (held !== undefined || tap.isComplete?.() === true)
            held = held === undefined ? out : Buffer.concat([held, out]);
          else write(out);
          return;
        }
        answer.push(chunk);
        if (held !== undefined) write(held);
        held = chunk;
      },
      onResponseEnd() {
        settle({ kind: 'end' });
      },
      onResponseError(_c, error) {
        settle({ kind: 'error', error });
      },
    };
    dispatcher.dispatch(options, handler);
  });
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
