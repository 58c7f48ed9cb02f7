import type { StreamTap, StreamTapOptions } from '../types.js';
import { createSseTap } from '../../sse/sse-tap.js';
import type { SseEvent } from '../../sse/sse-framer.js';
import { parseJson } from '../json.js';
import { createGeminiStreamState, readGeminiChunk, type ChunkFacts } from './response.js';

/** Reads one `data:` event of an `alt=sse` stream; malformed JSON says nothing. */
function readEvent(event: SseEvent): ChunkFacts {
  return readGeminiChunk(parseJson(event.data));
}

/**
 * A tap for `streamGenerateContent?alt=sse`: one `data: <GenerateContentResponse JSON>` event per
 * chunk, CRLF framed, no end marker (https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent).
 * Every chunk is read (each carries a cumulative `usageMetadata`); nothing is ever dropped, so
 * `push` returns the very Buffer it was given. Without an end marker, the end of the stream is
 * the upstream closing it: every event until then is read (the tap is never `isComplete`).
 * Image-generating models put whole images, base64 encoded, inside one chunk (`inlineData`:
 * https://ai.google.dev/gemini-api/docs/image-generation): chunks up to `maxEventBytes` are read.
 */
export function createGeminiSseTap(options: Omit<StreamTapOptions, 'stripUsageChunk'> = {}): StreamTap {
  const state = createGeminiStreamState();
  return createSseTap(
    {
      onEvent(event) {
        state.apply(readEvent(event));
        return 'keep';
      },
      usage: () => state.usage(),
      // SSE has no end marker: the upstream closing cleanly is the end, which the core judges.
      result: (trailing) => state.result(trailing === undefined ? undefined : readEvent(trailing), true),
    },
    { ...options, stripUsageChunk: false },
  );
}
