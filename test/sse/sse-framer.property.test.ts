// Property tests: our byte-level framer against eventsource-parser (the reference named in
// DESIGN.md) on arbitrary event streams, line endings and split points.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createParser } from 'eventsource-parser';
import { createSseFramer, type SseFrame } from '../../src/sse/sse-framer.js';
import { splitAt } from './chunking.js';

interface Parsed {
  event: string;
  data: string;
  id: string | undefined;
}

const eol = fc.constantFrom('\n', '\r', '\r\n');
// Values never hold CR or LF (they would end the line); everything else goes, NUL and astral
// characters included.
const value = fc.string({ unit: 'binary', maxLength: 12 }).map((s) => s.replace(/[\r\n]/g, '_'));
const space = fc.constantFrom('', ' ', '  ');
const fieldLine = fc.oneof(
  fc
    .tuple(fc.constantFrom('data', 'event', 'id', 'retry', 'foo', 'dat'), space, value)
    .map(([f, s, v]) => `${f}:${s}${v}`),
  fc.constantFrom('data', 'event', 'id'),
  value.map((v) => `:${v}`),
);
const line = fc.tuple(fieldLine, eol).map(([l, e]) => l + e);
const event = fc.tuple(fc.array(line, { maxLength: 5 }), eol).map(([lines, e]) => lines.join('') + e);
const stream = fc
  .tuple(
    fc.boolean(),
    fc.array(event, { maxLength: 8 }),
    fc.array(line, { maxLength: 2 }),
    fc.string({ maxLength: 6 }),
  )
  .map(([bom, events, trailingLines, trailingPartial]) => {
    const text = events.join('') + trailingLines.join('') + trailingPartial.replace(/[\r\n]/g, '');
    return Buffer.from((bom ? '\uFEFF' : '') + text, 'utf8');
  });
const splits = fc.array(fc.nat(), { maxLength: 12 });

function frame(chunks: readonly Buffer[], maxEventSize?: number): { frames: SseFrame[]; all: SseFrame[] } {
  const framer = createSseFramer(maxEventSize === undefined ? {} : { maxEventSize });
  const frames = chunks.flatMap((chunk) => framer.push(chunk));
  const last = framer.end();
  return { frames, all: last === undefined ? frames : [...frames, last] };
}

function dispatched(frames: readonly SseFrame[]): Parsed[] {
  return frames.flatMap((f) =>
    f.kind === 'event' && f.hasData && f.complete ? [{ event: f.event, data: f.data, id: f.id }] : [],
  );
}

/**
 * What eventsource-parser dispatches for the whole stream, fed in one piece. Not chunk by chunk:
 * when a chunk ends with a CR and the next one does not complete a line, eventsource-parser
 * holds that CR back with the partial line and dispatches nothing, while the spec (and
 * eventsource-parser itself on the unsplit bytes) ends the line at the CR. The framer is fed the
 * split chunks, so this also checks that splitting changes nothing.
 */
function reference(input: Buffer): Parsed[] {
  const out: Parsed[] = [];
  const parser = createParser({
    onEvent: (e) => out.push({ event: e.event ?? 'message', data: e.data, id: e.id }),
  });
  // TextDecoder strips the BOM, as a browser would.
  const text = new TextDecoder().decode(input);
  // A final CR is a complete line break, but eventsource-parser waits for a possible LF that
  // never comes: give it that LF (CRLF is the same single break) so both see the same stream.
  parser.feed(text + (input.length > 0 && input[input.length - 1] === 0x0d ? '\n' : ''));
  return out;
}

test('framer events equal eventsource-parser events for any stream and split points', () => {
  fc.assert(
    fc.property(stream, splits, (input, points) => {
      const chunks = splitAt(input, points);
      const { frames, all } = frame(chunks);
      assert.deepEqual(dispatched(all), reference(input));
      assert.ok(Buffer.concat(all.map((f) => f.raw)).equals(input));
      // Complete events come out of push() itself, except one ended by a CR at the very end.
      assert.ok(dispatched(all).length - dispatched(frames).length <= 1);
    }),
    { numRuns: 3000 },
  );
});

test('raw spans always concatenate to the input, whatever the bytes and the max size', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      splits,
      fc.integer({ min: 1, max: 80 }),
      (bytes, points, max) => {
        const input = Buffer.from(bytes);
        const { all } = frame(splitAt(input, points), max);
        assert.ok(Buffer.concat(all.map((f) => f.raw)).equals(input));
      },
    ),
    { numRuns: 3000 },
  );
});

test('without overflow, each raw span holds exactly one event as eventsource-parser sees it', () => {
  fc.assert(
    fc.property(stream, splits, (input, points) => {
      const { all } = frame(splitAt(input, points));
      for (const f of all) {
        if (f.kind !== 'event' || !f.complete) continue;
        // Re-parsing one span alone yields that event and nothing else.
        const alone = dispatched(frame([f.raw]).all);
        assert.deepEqual(alone, f.hasData ? [{ event: f.event, data: f.data, id: f.id }] : []);
      }
    }),
    { numRuns: 1000 },
  );
});

test('a blank line ended by a CR at the end of a chunk dispatches, whatever the next chunk holds', () => {
  // Found by the property above (seed -1391351600): BOM, CRLF, "event", "data", "event", CR | " ".
  const input = Buffer.from('\uFEFF\r\nevent\ndata\nevent\n\r ', 'utf8');
  const { all } = frame(splitAt(input, [input.length - 1]));
  assert.deepEqual(dispatched(all), [{ event: 'message', data: '', id: undefined }]);
  assert.deepEqual(dispatched(all), reference(input));
});

// Events larger than the maximum, in any line ending, with comments and several data lines.
const MAX = 1024;
// A line break after the last line then a blank line: the event ends where its text ends, even
// when its last line ends with a CR and the break is an LF (the two would make one CRLF).
const smallEvent = fc
  .tuple(fc.array(line, { maxLength: 5 }), eol)
  .map(([lines, e]) => lines.join('') + e + e);
const bigEvent = fc
  .tuple(fc.integer({ min: MAX + 1, max: 4 * MAX }), eol, fc.boolean(), fc.integer({ min: 1, max: 3 }))
  .map(([size, e, comment, lines]) => {
    const data = Array.from({ length: lines }, (_, i) => `data: ${'é'.repeat(size / (2 * lines))}${i}${e}`);
    return (comment ? `: ${'c'.repeat(10)}${e}` : '') + data.join('') + e;
  });

test('oversized events are skipped whole: the other events equal eventsource-parser without them', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          smallEvent.map((text) => ({ text, big: false })),
          bigEvent.map((text) => ({ text, big: true })),
        ),
        {
          maxLength: 8,
        },
      ),
      splits,
      (parts, points) => {
        const input = Buffer.from(parts.map((p) => p.text).join(''));
        const framer = createSseFramer({ maxEventSize: MAX });
        const chunks = splitAt(input, points);
        const frames = chunks.flatMap((chunk) => framer.push(chunk));
        const last = framer.end();
        const all = last === undefined ? frames : [...frames, last];
        const without = Buffer.from(parts.flatMap((p) => (p.big ? [] : [p.text])).join(''));
        assert.deepEqual(dispatched(all), reference(without));
        assert.ok(Buffer.concat(all.map((f) => f.raw)).equals(input));
        assert.equal(framer.oversizedEvents, parts.filter((p) => p.big).length);
        // No oversized event is ever held: what is held fits the maximum.
        assert.ok(framer.pendingBytes <= MAX);
      },
    ),
    { numRuns: 500 },
  );
});
