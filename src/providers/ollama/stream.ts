import type { StreamResult, StreamTap, StreamTapOptions } from '../types.js';
import { createGeneratedText, type GeneratedText } from '../generated-text.js';
import { createByteLog } from '../../sse/byte-log.js';
import { MAX_EVENT_LOG_BYTES } from '../../sse/event-log.js';
import { DEFAULT_MAX_EVENT_BYTES } from '../../sse/sse-framer.js';
import { usageKey } from '../../sse/sse-tap.js';
import type { TokenUsage } from '../../usage.js';
import { field, isJsonObject, parseJson, readText } from '../json.js';
import { createLineSplitter } from './ndjson-lines.js';
import { ollamaAnswerText, readOllamaCounts } from './usage.js';

const EMPTY = Buffer.alloc(0);
const LF = Buffer.from('\n');
/** Bytes every final object holds (`"done": true`) outside its strings. */
const TRUE = Buffer.from('true');
/** The key of an error line. */
const ERROR_KEY = Buffer.from('"error"');

/**
 * Streams of Ollama's native API: `application/x-ndjson`, one JSON object per line
 * (https://docs.ollama.com/api/streaming). Each object carries a piece of the answer
 * (`message.content` / `message.thinking` for chat, `response` / `thinking` for generate); the
 * last one has `done: true`, `done_reason` and the counts (`prompt_eval_count`, `eval_count`).
 * An error while streaming arrives as a line `{"error": "..."}`.
 *
 * The tap reads each line as it completes and forwards the bytes unchanged (`push` returns the
 * very Buffer it was given). `done: true` is the documented end (`isComplete`): nothing after it
 * is read. The counts come from the final object only: the intermediate objects carry none, so
 * nothing can be counted twice. A malformed line is skipped (nothing is counted from it) and
 * later lines are still read; a line over `maxEventBytes` is forwarded unread (`eventTooLarge`).
 *
 * Only a line that holds the bytes `true` (every final object does: `"done": true`) or
 * `"error"` is parsed at once; the others (`"done": false` pieces, nearly every line) are kept
 * as bytes in a bounded log and parsed only if the text is needed for an estimate, so a stream
 * whose counts arrive costs one JSON parse (plus those of pieces whose text says "true").
 */
export function createOllamaStreamTap(options: Omit<StreamTapOptions, 'stripUsageChunk'> = {}): StreamTap {
  const lines = createLineSplitter(options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES);
  const pending = createByteLog(16 * 1024, MAX_EVENT_LOG_BYTES);
  const folded = createGeneratedText();
  let usage: TokenUsage = {};
  let responseModel: string | undefined;
  let completed = false;
  let errored = false;
  let flushed = false;
  /** The usage read before the last line too large to read, as a comparable key. */
  let usageAtTooLarge: string | undefined;

  /** Keeps a piece unparsed; the kept pieces are read once the log is full. */
  const defer = (line: Buffer): void => {
    if (pending.length + line.length + 1 > MAX_EVENT_LOG_BYTES) {
      addText(folded, pending.bytes());
      pending.clear();
    }
    if (line.length + 1 > MAX_EVENT_LOG_BYTES) {
      addText(folded, line);
      return;
    }
    pending.append(line);
    pending.append(LF);
  };

  const read = (line: Buffer | undefined): void => {
    if (completed) return;
    if (line === undefined) {
      if (usageAtTooLarge === undefined) options.onEventTooLarge?.();
      usageAtTooLarge = usageKey(usage);
      return;
    }
    if (line.length === 0) return;
    if (line.indexOf(TRUE) === -1 && line.indexOf(ERROR_KEY) === -1) {
      defer(line);
      return;
    }
    const object = parseJson(line.toString('utf8'));
    // A malformed line (or one that is not an object) says nothing: skipped.
    if (!isJsonObject(object)) return;
    if (object['error'] !== undefined) {
      errored = true;
      return;
    }
    responseModel ??= readText(object['model']);
    if (object['done'] === true) {
      usage = readOllamaCounts(object);
      completed = true;
    }
    // A piece read at once (its text holds "true"): its text joins the log, in order.
    defer(line);
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
      let generated: string | undefined;
      const out: StreamResult = {
        usage,
        get generatedText(): string {
          if (generated === undefined) {
            const all = createGeneratedText();
            all.add(folded.text());
            addText(all, pending.bytes());
            generated = all.text();
          }
          return generated;
        },
        completed,
        errored,
      };
      const model = responseModel ?? firstModel(pending.bytes());
      if (model !== undefined) out.responseModel = model;
      if (usageAtTooLarge !== undefined) {
        out.eventTooLarge = true;
        out.usageAfterTooLarge = usageKey(usage) !== usageAtTooLarge;
      }
      return out;
    },
    isComplete: () => completed,
  };
}

/** Adds the text of LF-separated answer objects (malformed ones add nothing). */
function addText(out: GeneratedText, bytes: Buffer): void {
  if (out.full || bytes.length === 0) return;
  for (const line of bytes.toString('utf8').split('\n'))
    if (line !== '') out.add(ollamaAnswerText(parseJson(line)));
}

/** The model named by the first line of the log that parses. */
function firstModel(bytes: Buffer): string | undefined {
  let from = 0;
  while (from < bytes.length) {
    const end = bytes.indexOf(LF, from);
    const model = readText(
      field(parseJson(bytes.toString('utf8', from, end === -1 ? bytes.length : end)), 'model'),
    );
    if (model !== undefined) return model;
    if (end === -1) return undefined;
    from = end + 1;
  }
  return undefined;
}
