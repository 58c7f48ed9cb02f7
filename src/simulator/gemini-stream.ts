import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { StreamOutcome, StreamPlan } from './sse.js';

/**
 * Writing a Gemini stream. Gemini has two framings of streamGenerateContent
 * (https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent): with
 * `alt=sse`, server-sent events `data: {json}` ended by CRLF CRLF (as in gemini-stream.sse);
 * without it, one JSON array whose elements arrive as they are generated, with content type
 * application/json. The shared SSE writer always answers text/event-stream, hence this writer.
 */

/** Headers of an `alt=sse` answer. */
export const GEMINI_SSE_HEADERS = { 'content-type': 'text/event-stream' } as const;
/** Headers of a JSON answer, the streamed JSON array included. */
export const GEMINI_JSON_HEADERS = { 'content-type': 'application/json; charset=UTF-8' } as const;

/** An `alt=sse` event, CRLF framed like the real API. */
export function geminiSseFrame(payload: unknown): string {
  return `data: ${JSON.stringify(payload)}\r\n\r\n`;
}

/**
 * A stream of `chunks` in one framing. Each chunk but the last is one paced step; the last one
 * (with `finishReason`) is the tail. In the array framing the elements are pretty-printed and
 * separated by `,\r\n`, the array opens in the head and closes in the tail.
 */
export function geminiStreamPlan(chunks: readonly unknown[], sse: boolean): StreamPlan {
  const rendered = chunks.map((chunk, index) =>
    sse ? geminiSseFrame(chunk) : `${index === 0 ? '' : ',\r\n'}${JSON.stringify(chunk, null, 2)}`,
  );
  const tail = rendered.pop() ?? '';
  return { head: sse ? '' : '[', steps: rendered, tail: sse ? tail : `${tail}]` };
}

/** Options of {@link writeGeminiStream}. */
export interface GeminiStreamOptions {
  headers: OutgoingHttpHeaders;
  /** Steps per second; 0 sends everything at once. */
  tokensPerSecond: number;
  /** Destroy the socket after this many steps (an upstream failure). */
  cutAfterSteps?: number;
}

/**
 * Writes a planned stream: the head at once, step k (1-based) due k/tokensPerSecond seconds
 * after it, then the tail. Each tick writes every due step; backpressure waits for `drain`.
 * Resolves once the stream is finished, cut or aborted by the client; never rejects.
 */
export function writeGeminiStream(
  res: ServerResponse,
  plan: StreamPlan,
  options: GeminiStreamOptions,
): Promise<StreamOutcome> {
  const { tokensPerSecond, cutAfterSteps } = options;
  const stopAt = Math.min(cutAfterSteps ?? plan.steps.length, plan.steps.length);
  return new Promise<StreamOutcome>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const settle = (outcome: StreamOutcome): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      resolve(outcome);
    };
    res.once('close', () => settle(res.writableFinished ? 'completed' : 'aborted'));
    res.writeHead(200, options.headers);
    const finish = (chunk: string): void => {
      if (cutAfterSteps === undefined) {
        res.end(chunk + plan.tail, () => settle('completed'));
        return;
      }
      // Flushed, then dropped without the chunked terminator: a truncated answer.
      res.write(chunk, () => {
        settle('cut');
        res.destroy();
      });
    };
    if (tokensPerSecond <= 0) {
      finish(plan.head + plan.steps.slice(0, stopAt).join(''));
      return;
    }
    res.write(plan.head);
    const start = performance.now();
    let next = 0;
    const tick = (): void => {
      timer = undefined;
      if (settled) return;
      const due = Math.min(stopAt, Math.floor(((performance.now() - start) * tokensPerSecond) / 1000));
      let chunk = '';
      while (next < due) chunk += plan.steps[next++] ?? '';
      if (next >= stopAt) return finish(chunk);
      if (chunk === '' || res.write(chunk)) schedule();
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
