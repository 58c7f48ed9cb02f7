import type { StreamResult, StreamTap, StreamTapOptions } from '../types.js';
import { createGeneratedText } from '../generated-text.js';
import { DEFAULT_MAX_EVENT_BYTES } from '../../sse/sse-framer.js';
import { usageKey } from '../../sse/sse-tap.js';
import type { TokenUsage } from '../../usage.js';
import { isJsonObject, parseJson, readText } from '../json.js';
import { createLineSplitter } from './ndjson-lines.js';
import { ollamaAnswerText, readOllamaCounts } from './usage.js';

const EMPTY = Buffer.alloc(0);

/**
 * Streams of Ollama's native API: `application/x-ndjson`, one JSON object per line
 * (https://docs.ollama.com/api/streaming). Each object carries a piece of the answer
 * (`message.content` / `message.thinking` for chat, `response` / `thinking` for generate); the
 * last one has `done: true`, `done_reason` and the counts (`prompt_eval_count`, `eval_count`).
 * An error while streaming arrives as a line `{"error": "..."}`.
 *
 * The tap reads each line as it completes and forwards the bytes unchanged (`push` returns the
 * very Buffer it was given). `done: true` is the documented end (`isComplete`): nothing after it
 * is read. A malformed line is skipped (nothing is counted from it) and later lines are still
 * read; a line over `maxEventBytes` is forwarded unread (`eventTooLarge`). The counts come from
 * the final object only: the intermediate objects carry none, so nothing can be counted twice.
 */
export function createOllamaStreamTap(options: Omit<StreamTapOptions, 'stripUsageChunk'> = {}): StreamTap {
  const lines = createLineSplitter(options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES);
  const text = createGeneratedText();
  let usage: TokenUsage = {};
  let responseModel: string | undefined;
  let completed = false;
  let errored = false;
  let flushed = false;
  /** The usage read before the last line too large to read, as a comparable key. */
  let usageAtTooLarge: string | undefined;

  const read = (line: Buffer | undefined): void => {
    if (completed) return;
    if (line === undefined) {
      if (usageAtTooLarge === undefined) options.onEventTooLarge?.();
      usageAtTooLarge = usageKey(usage);
      return;
    }
    if (line.length === 0) return;
    const object = parseJson(line.toString('utf8'));
    // A malformed line (or one that is not an object) says nothing: skipped.
    if (!isJsonObject(object)) return;
    if (object['error'] !== undefined) {
      errored = true;
      return;
    }
    responseModel ??= readText(object['model']);
    text.add(ollamaAnswerText(object));
    if (object['done'] === true) {
      usage = readOllamaCounts(object);
      completed = true;
    }
  };

  return {
    push(chunk) {
      if (!completed && !flushed) lines.push(chunk, read);
      return chunk;
    },
    flush() {
      if (!flushed && !completed) {
        // The last line of a stream without a final LF (or cut mid-line): read if whole JSON.
        const last = lines.end();
        if (last !== undefined) read(last);
      }
      flushed = true;
      return EMPTY;
    },
    result(): StreamResult {
      const out: StreamResult = { usage, generatedText: text.text(), completed, errored };
      if (responseModel !== undefined) out.responseModel = responseModel;
      if (usageAtTooLarge !== undefined) {
        out.eventTooLarge = true;
        out.usageAfterTooLarge = usageKey(usage) !== usageAtTooLarge;
      }
      return out;
    },
    isComplete: () => completed,
  };
}
