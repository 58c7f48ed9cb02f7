import type { IncomingHttpHeaders } from 'node:http';
import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate, createInflateRaw } from 'node:zlib';

/**
 * Decoding of a compressed upstream answer for the usage readers. The gateway asks backends for
 * `accept-encoding: identity`; some answer gzip anyway. The client still gets the bytes as the
 * backend sent them: the decoder only feeds the taps, incrementally (node:zlib streams, never the
 * whole answer in memory), and says when each raw chunk has been decoded so that the relay
 * forwards it only after the tap has seen what it carries.
 */

/** A content coding the gateway can decode (RFC 9110 §8.4.1). */
export type ContentCoding = 'identity' | 'gzip' | 'deflate' | 'br';

/** The answer's coding, or the name of one the gateway cannot decode (zstd, compress, layered codings). */
export type AnswerCoding = { coding: ContentCoding } | { unknown: string };

const CODINGS: ReadonlyMap<string, ContentCoding> = new Map([
  ['gzip', 'gzip'],
  ['x-gzip', 'gzip'],
  ['deflate', 'deflate'],
  ['br', 'br'],
]);

/** Reads `content-encoding`; `identity` entries are no coding, more than one real coding is unknown. */
export function readAnswerCoding(headers: IncomingHttpHeaders): AnswerCoding {
  const header = headers['content-encoding'];
  if (header === undefined || header === '') return { coding: 'identity' };
  const names = String(header)
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '' && name !== 'identity');
  if (names.length === 0) return { coding: 'identity' };
  const only = names.length === 1 ? CODINGS.get(names[0] ?? '') : undefined;
  return only !== undefined ? { coding: only } : { unknown: names.join(', ') };
}

/** Where a decoder delivers its work, in stream order. */
export interface DecoderSink {
  /** Decoded bytes, as zlib produces them. */
  decoded(chunk: Buffer): void;
  /** A raw chunk whose decoded bytes have all been delivered (or that could not be decoded). */
  passed(raw: Buffer): void;
  /** zlib's input buffer is full (false) or has room again (true): pause or resume the upstream. */
  backlog(full: boolean): void;
}

/**
 * An incremental decoder of one answer body. Every raw chunk written comes back through
 * `passed`, exactly once and in order, after the decoded bytes it produced; once decoding fails
 * (a corrupt body), the chunks still waiting and every later one are passed undecoded.
 */
export interface BodyDecoder {
  write(raw: Buffer): void;
  /** Ends the body; resolves once every decoded byte and every raw chunk has been delivered. */
  end(): Promise<void>;
  /** Why decoding failed, if it did. */
  readonly error: Error | undefined;
}

/** A zlib header (RFC 1950): compression method 8, window ≤ 32 KiB, header checksum a multiple of 31. */
function isZlibHeader(first: number, second: number): boolean {
  return (first & 0x0f) === 8 && first >> 4 <= 7 && ((first << 8) | second) % 31 === 0;
}

function createInflater(coding: Exclude<ContentCoding, 'identity'>, head: Buffer): Transform {
  if (coding === 'gzip') return createGunzip();
  if (coding === 'br') return createBrotliDecompress();
  // `deflate` is meant to be zlib-wrapped, but servers have long sent raw deflate under that name.
  return head.length >= 2 && !isZlibHeader(head[0] ?? 0, head[1] ?? 0) ? createInflateRaw() : createInflate();
}

/** Creates the decoder of a body in `coding` (not identity: identity bodies need none). */
export function createBodyDecoder(
  coding: Exclude<ContentCoding, 'identity'>,
  sink: DecoderSink,
): BodyDecoder {
  let zlib: Transform | undefined;
  // Raw chunks written to zlib and not yet passed, oldest first.
  const waiting: Buffer[] = [];
  // deflate: the first bytes, until two tell a zlib header from raw deflate.
  let head: Buffer | undefined = coding === 'deflate' ? Buffer.alloc(0) : undefined;
  let error: Error | undefined;
  let settled = false;
  let ending: Promise<void> | undefined;
  let resolveEnd: (() => void) | undefined;

  const passAll = (): void => {
    for (let raw = waiting.shift(); raw !== undefined; raw = waiting.shift()) sink.passed(raw);
  };
  const settle = (): void => {
    if (settled) return;
    settled = true;
    passAll();
    resolveEnd?.();
  };
  const start = (first: Buffer): Transform => {
    const stream = createInflater(coding, first);
    stream.on('data', (chunk: Buffer) => sink.decoded(chunk));
    stream.on('drain', () => sink.backlog(false));
    stream.on('error', (err: Error) => {
      error = err;
      sink.backlog(false);
      settle();
    });
    // Every write's decoded bytes are emitted before 'end': what is still waiting is decoded.
    stream.on('end', settle);
    stream.on('close', settle);
    return stream;
  };
  const feed = (stream: Transform, raw: Buffer): void => {
    waiting.push(raw);
    const room = stream.write(raw, () => {
      // After a failure or the end, the waiting chunks were passed already.
      if (!settled) {
        const passed = waiting.shift();
        if (passed !== undefined) sink.passed(passed);
      }
    });
    if (!room) sink.backlog(true);
  };

  return {
    get error() {
      return error;
    },
    write(raw) {
      if (settled || error !== undefined) {
        sink.passed(raw);
        return;
      }
      if (zlib === undefined && head !== undefined) {
        head = Buffer.concat([head, raw]);
        if (head.length < 2) return;
        zlib = start(head);
        const first = head;
        head = undefined;
        feed(zlib, first);
        return;
      }
      zlib ??= start(raw);
      feed(zlib, raw);
    },
    end() {
      if (ending !== undefined) return ending;
      ending = new Promise<void>((resolve) => {
        resolveEnd = resolve;
      });
      if (settled) resolveEnd?.();
      else if (zlib === undefined && head !== undefined && head.length > 0) {
        // One byte of deflate: not a body anyone can decode; zlib says so.
        zlib = start(head);
        const first = head;
        head = undefined;
        feed(zlib, first);
        zlib.end();
      } else if (zlib === undefined) settle();
      else zlib.end();
      return ending;
    },
  };
}
