import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/**
 * Server-sent events for the simulator: frame rendering and a paced writer.
 * Frames follow the OpenAI wire format: `data: {json}\n\n`, Responses events with an
 * `event:` line first, and chat/completions streams end with `data: [DONE]\n\n`.
 */

/** A `data:` frame with a JSON payload. */
export function dataFrame(payload: unknown): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}

/** A named event frame (Responses API): `event: name\ndata: {json}\n\n`. */
export function eventFrame(event: string, payload: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(payload)}\n\n`;
}

/** The terminator of chat and completions streams. */
export const DONE_FRAME = 'data: [DONE]\n\n';

/**
 * A stream rendered ahead of time: `head` is sent at once, each entry of `steps` is one
 * generated token (for every choice), paced by tokensPerSecond, then `tail` ends the stream.
 */
export interface StreamPlan {
  head: string;
  steps: string[];
  tail: string;
}

/** How a stream ended. */
export type StreamOutcome = 'completed' | 'cut' | 'aborted';

/** Options of {@link writeStream}. */
export interface WriteStreamOptions {
  /** Response headers (default: SSE_HEADERS); Gemini's streamed JSON array is application/json. */
  headers?: OutgoingHttpHeaders;
  /** Token steps per second; 0 sends everything at once. */
  tokensPerSecond: number;
  /** Destroy the socket after this many steps (upstream failure simulation). */
  cutAfterSteps?: number;
}

/** Headers of an SSE answer, as the OpenAI API sends them. */
export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
} as const;

/**
 * Writes a planned stream to the response. Token k (1-based) is due k/tokensPerSecond seconds
 * after the head; each timer tick writes every step that is due, so high rates send a few tokens
 * per write instead of relying on sub-millisecond timers. Backpressure is honoured (waits for
 * `drain`). Resolves once the stream is finished, cut or aborted by the client; never rejects.
 */
export function writeStream(
  res: ServerResponse,
  plan: StreamPlan,
  options: WriteStreamOptions,
): Promise<StreamOutcome> {
  const { tokensPerSecond, cutAfterSteps } = options;
  const steps = plan.steps;
  const stopAt = cutAfterSteps === undefined ? steps.length : Math.min(cutAfterSteps, steps.length);
  return new Promise<StreamOutcome>((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (outcome: StreamOutcome): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      resolve(outcome);
    };
    res.once('close', () => settle(res.writableFinished ? 'completed' : 'aborted'));
    res.writeHead(200, options.headers ?? SSE_HEADERS);

    const cut = (chunk: string): void => {
      // Wait until the bytes are flushed to the socket, then drop the connection without the
      // chunked-encoding terminator: the client sees a truncated stream, like a network failure.
      res.write(chunk, () => {
        settle('cut');
        res.destroy();
      });
    };

    if (tokensPerSecond <= 0) {
      const body = plan.head + steps.slice(0, stopAt).join('');
      if (cutAfterSteps !== undefined) cut(body);
      else res.end(body + plan.tail, () => settle('completed'));
      return;
    }

    let next = 0;
    res.write(plan.head);
    const start = performance.now();
    const tick = (): void => {
      timer = undefined;
      if (settled) return;
      const due = Math.min(stopAt, Math.floor(((performance.now() - start) * tokensPerSecond) / 1000));
      let chunk = '';
      while (next < due) chunk += steps[next++] ?? '';
      if (next >= stopAt) {
        if (cutAfterSteps !== undefined) cut(chunk);
        else res.end(chunk + plan.tail, () => settle('completed'));
        return;
      }
      const flushed = chunk === '' || res.write(chunk);
      if (flushed) schedule();
      else res.once('drain', schedule);
    };
    const schedule = (): void => {
      if (settled) return;
      const dueAt = start + ((next + 1) * 1000) / tokensPerSecond;
      timer = setTimeout(tick, Math.max(0, dueAt - performance.now()));
    };
    schedule();
  });
}
