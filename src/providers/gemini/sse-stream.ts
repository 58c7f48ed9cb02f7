import type { StreamTap } from '../types.js';
import { createSseTap } from '../../sse/sse-tap.js';
import type { SseEvent } from '../../sse/sse-framer.js';
import { parseJson } from '../json.js';
import { createGeminiStreamState, MAX_CHUNK_BYTES, readGeminiChunk, type ChunkFacts } from './response.js';

/** Reads one `data:` event of an `alt=sse` stream; malformed JSON says nothing. */
function readEvent(event: SseEvent): ChunkFacts {
  return readGeminiChunk(parseJson(event.data));
}

/**
 * A tap for `streamGenerateContent?alt=sse`: one `data: <GenerateContentResponse JSON>` event per
 * chunk, CRLF framed, no end marker (https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent).
 * Every chunk is read (each carries a cumulative `usageMetadata`); nothing is ever dropped, so
 * `push` returns the very Buffer it was given.
 */
export function createGeminiSseTap(): StreamTap {
  const state = createGeminiStreamState();
  return createSseTap(
    {
      onEvent(event) {
        state.apply(readEvent(event));
        return 'keep';
      },
      // SSE has no end marker: the upstream closing cleanly is the end, which the core judges.
      result: (trailing) => state.result(trailing === undefined ? undefined : readEvent(trailing), true),
    },
    { stripUsageChunk: false, maxEventSize: MAX_CHUNK_BYTES },
  );
}
