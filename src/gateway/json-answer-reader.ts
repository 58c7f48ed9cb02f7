import type { IncomingHttpHeaders } from 'node:http';
import type { ExtractedUsage, ProviderAdapter, RouteMatch } from '../providers/types.js';
import {
  createJsonMemberScanner,
  type JsonMemberScanner,
  type JsonMemberScannerOptions,
  type ScannedBody,
} from './json-member-scanner.js';

/**
 * Answers up to this size (nearly all) are kept as received and parsed whole at the end, as one
 * JSON.parse is about twice as fast as the scan for a small answer (2.7 KB chat answer: ~10 µs
 * against ~20 µs); past it the scanner takes over from the first byte.
 */
export const WHOLE_ANSWER_BYTES = 256 * 1024;

/**
 * Reads the usage of a non-streamed answer as its bytes pass. A small answer is parsed whole;
 * a larger one goes through the member scanner (json-member-scanner.ts), which holds only its
 * small top-level members: memory per call stays bounded whatever the answer's size, and the
 * adapter reads usage from an object made of the kept members.
 */
export interface JsonAnswerReader {
  /** Feeds the next bytes of the answer (the relay forwards them unchanged). */
  push(chunk: Buffer): void;
  /**
   * Usage from the kept members; undefined when the body is not a well-formed JSON answer.
   * Output members too large to keep are counted in `unreadOutputBytes` when the adapter
   * asked for text to estimate from. Never throws.
   */
  result(): ExtractedUsage | undefined;
}

/** Creates the reader of one answer of `route`, whose answer came with `headers`. */
export function createJsonAnswerReader(
  adapter: ProviderAdapter,
  route: RouteMatch,
  headers: IncomingHttpHeaders = {},
  options: JsonMemberScannerOptions = {},
): JsonAnswerReader {
  let whole: Buffer[] = [];
  let wholeSize = 0;
  let scanner: JsonMemberScanner | undefined;

  const scan = (): ScannedBody | undefined => {
    if (scanner !== undefined) return scanner.end();
    if (wholeSize === 0) return undefined;
    const first = whole[0];
    const bytes = whole.length === 1 && first !== undefined ? first : Buffer.concat(whole);
    try {
      return { value: JSON.parse(bytes.toString('utf8')) as unknown, skipped: new Map() };
    } catch {
      return undefined;
    }
  };

  return {
    push(chunk) {
      if (scanner !== undefined) {
        scanner.push(chunk);
        return;
      }
      whole.push(chunk);
      wholeSize += chunk.length;
      if (wholeSize <= WHOLE_ANSWER_BYTES) return;
      scanner = createJsonMemberScanner(options);
      for (const part of whole) scanner.push(part);
      whole = [];
    },
    result() {
      const scanned = scan();
      if (scanned === undefined) return undefined;
      let extracted: ExtractedUsage;
      try {
        extracted = adapter.extractUsage(route, scanned.value, headers);
      } catch {
        return undefined;
      }
      if (extracted.generatedText === undefined || scanned.skipped.size === 0) return extracted;
      let unread = 0;
      for (const key of adapter.outputMembers?.(route) ?? []) unread += scanned.skipped.get(key) ?? 0;
      return unread > 0 ? { ...extracted, unreadOutputBytes: unread } : extracted;
    },
  };
}
