/** Test helpers: deterministic random splitting of byte streams. */

/** A seeded PRNG (mulberry32): the same seed gives the same splits, so failures reproduce. */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Cuts `buf` at the given positions (any order, duplicates and out-of-range ignored). */
export function splitAt(buf: Buffer, points: readonly number[]): Buffer[] {
  const cuts = [...new Set(points.filter((p) => p > 0 && p < buf.length))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let start = 0;
  for (const cut of cuts) {
    pieces.push(buf.subarray(start, cut));
    start = cut;
  }
  pieces.push(buf.subarray(start));
  return pieces;
}

/** Cuts `buf` at random positions: sometimes a few big pieces, sometimes many tiny ones. */
export function splitRandomly(buf: Buffer, random: () => number): Buffer[] {
  const mode = random();
  const count = mode < 0.3 ? 1 + Math.floor(random() * 4) : Math.floor(random() * Math.min(buf.length, 200));
  const points: number[] = [];
  for (let i = 0; i < count; i += 1) points.push(1 + Math.floor(random() * Math.max(1, buf.length - 1)));
  return splitAt(buf, points);
}

/** Positions between a CR and the LF after it. */
export function crlfMidpoints(buf: Buffer): number[] {
  const points: number[] = [];
  for (let i = 0; i + 1 < buf.length; i += 1) if (buf[i] === 0x0d && buf[i + 1] === 0x0a) points.push(i + 1);
  return points;
}

/** Positions inside a multi-byte UTF-8 character (before a continuation byte). */
export function utf8Midpoints(buf: Buffer): number[] {
  const points: number[] = [];
  for (let i = 1; i < buf.length; i += 1) {
    const byte = buf[i] ?? 0;
    if (byte >= 0x80 && byte < 0xc0) points.push(i);
  }
  return points;
}

/** Rewrites every LF of an LF-only stream as `ending` (CRLF or CR). */
export function withLineEnding(buf: Buffer, ending: '\r\n' | '\r' | '\n'): Buffer {
  return Buffer.from(buf.toString('latin1').replaceAll('\n', ending), 'latin1');
}
