import { closeSync, openSync, readdirSync, readFileSync, readSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The files of one outbox instance directory: segments `seg-<16-digit sequence>.ndjson` (one
 * JSON usage record per line, append-only), `offset` (how far the shipper got), and
 * `rejected.ndjson` (lines set aside, never shipped).
 */
const SEGMENT = /^seg-(\d{16})\.ndjson$/;
const NEWLINE = 0x0a;
const READ_CHUNK = 1 << 20;

export const OFFSET_FILE = 'offset';
export const REJECTED_FILE = 'rejected.ndjson';

export function segmentName(sequence: number): string {
  return `seg-${String(sequence).padStart(16, '0')}.ndjson`;
}

/** The sequences of the segments in `dir`, ascending. */
export function listSegments(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync(dir)) {
    const m = SEGMENT.exec(name);
    if (m?.[1] !== undefined) out.push(Number(m[1]));
  }
  return out.sort((a, b) => a - b);
}

/** Where the shipper of an instance directory stands: the next byte to ship. */
export interface ShipOffset {
  segment: number;
  offset: number;
}

/** The persisted offset, or the start of everything when none was persisted (or it is damaged). */
export function readOffset(dir: string): ShipOffset {
  try {
    const value = JSON.parse(readFileSync(join(dir, OFFSET_FILE), 'utf8')) as unknown;
    if (typeof value === 'object' && value !== null) {
      const { segment, offset } = value as Record<string, unknown>;
      if (Number.isSafeInteger(segment) && Number.isSafeInteger(offset))
        return { segment: segment as number, offset: offset as number };
    }
  } catch {
    // No offset yet: ship from the first segment.
  }
  return { segment: 0, offset: 0 };
}

/** Persists the offset atomically (write a temporary file, rename over): a crash keeps the old or the new. */
export function writeOffset(dir: string, at: ShipOffset): void {
  const tmp = join(dir, `${OFFSET_FILE}.tmp`);
  writeFileSync(tmp, JSON.stringify(at));
  renameSync(tmp, join(dir, OFFSET_FILE));
}

/** Complete lines (ended by `\n`) of a file from byte `from`. */
export function countLines(path: string, from = 0): number {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return 0;
  }
  try {
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    let lines = 0;
    let position = from;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, position);
      if (n <= 0) return lines;
      for (let i = 0; i < n; i++) if (buf[i] === NEWLINE) lines++;
      position += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** Records (complete lines) of `dir` not shipped yet, counted from the persisted offset. */
export function countPending(dir: string): number {
  const at = readOffset(dir);
  let pending = 0;
  for (const sequence of listSegments(dir)) {
    if (sequence < at.segment) continue;
    pending += countLines(join(dir, segmentName(sequence)), sequence === at.segment ? at.offset : 0);
  }
  return pending;
}
