import { closeSync, fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { listSegments, readOffset, segmentName } from './segment-files.js';

/**
 * The main thread's side of the outbox: appends usage records to the instance's journal.
 *
 * Records appended in one turn of the event loop share one `write` (scheduled with setImmediate,
 * after the turn's I/O callbacks), and every promise of the turn resolves once that write
 * returned: the bytes are in the operating system, durable against a process crash (the
 * guarantee of SQLite's WAL with `synchronous = NORMAL`; a power cut may lose the last writes).
 * A write that fails (ENOSPC, EIO, EFBIG) is cut back to the size before it, so no partial line
 * is left for the shipper, and the turn's promises reject; the next write starts a new segment.
 *
 * Each writer starts a new segment (never appending to a segment of an earlier run, whose last
 * line may be torn) and rotates past `segmentBytes`.
 */
export interface JournalWriter {
  /** Resolves once the record's line is written (see above); rejects when the write failed. */
  append(line: string): Promise<void>;
  /** Writes the pending turn now (before closing, or to measure). */
  flush(): void;
  /** Records written by this writer so far. */
  readonly written: number;
  /** The sequence of the segment written now. */
  readonly segment: number;
  /** Flushes and closes the file. Appends after close reject. */
  close(): void;
}

export interface JournalWriterOptions {
  /** Rotate once a segment reaches this size (default 64 MiB). */
  segmentBytes?: number;
  /** Told after each successful write: how many records it held. */
  onWritten?: (records: number) => void;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

export function createJournalWriter(dir: string, options: JournalWriterOptions = {}): JournalWriter {
  const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  const existing = listSegments(dir);
  let sequence = Math.max(existing.at(-1) ?? 0, readOffset(dir).segment) + 1;
  let fd: number | undefined;
  let size = 0;
  let written = 0;
  let closed = false;
  let lines: string[] = [];
  let waiters: Waiter[] = [];
  let scheduled = false;

  const openSegment = (): number => {
    if (fd !== undefined) return fd;
    fd = openSync(join(dir, segmentName(sequence)), 'a');
    size = fstatSync(fd).size;
    return fd;
  };

  /** The next write goes to a new segment. */
  const rotate = (): void => {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
    sequence += 1;
  };

  // The segment of this run exists from the start: the shipper knows which segment is live.
  openSegment();

  const writeAll = (target: number, buf: Buffer): void => {
    let done = 0;
    while (done < buf.length) done += writeSync(target, buf, done, buf.length - done);
  };

  function flush(): void {
    scheduled = false;
    if (lines.length === 0) return;
    const batch = lines;
    const turn = waiters;
    lines = [];
    waiters = [];
    let before = size;
    let target: number | undefined;
    try {
      target = openSegment();
      before = size;
      const buf = Buffer.from(batch.join(''), 'utf8');
      writeAll(target, buf);
      size += buf.length;
    } catch (err) {
      if (target !== undefined) {
        try {
          ftruncateSync(target, before);
        } catch {
          // The cut failed too: the next segment is started below, and the shipper sets a torn
          // tail of a finished segment aside.
        }
        rotate();
      }
      const error = err instanceof Error ? err : new Error(String(err));
      for (const w of turn) w.reject(error);
      return;
    }
    written += batch.length;
    if (size >= segmentBytes) rotate();
    options.onWritten?.(batch.length);
    for (const w of turn) w.resolve();
  }

  return {
    append(line) {
      if (closed) return Promise.reject(new Error('the outbox journal is closed'));
      return new Promise<void>((resolve, reject) => {
        lines.push(line);
        waiters.push({ resolve, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
    flush,
    get written() {
      return written;
    },
    get segment() {
      return sequence;
    },
    close() {
      if (closed) return;
      flush();
      closed = true;
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}
