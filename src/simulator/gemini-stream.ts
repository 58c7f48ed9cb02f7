import type { StreamPlan } from './sse.js';

/**
 * Writing a Gemini stream. Gemini has two framings of streamGenerateContent
 * (https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent): with
 * `alt=sse`, server-sent events `data: {json}` ended by CRLF CRLF (as in gemini-stream.sse);
 * without it, one JSON array whose elements arrive as they are generated, with content type
 * application/json. Both are written by the shared paced writer (sse.ts) with these headers.
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
