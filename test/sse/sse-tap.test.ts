import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createSseTap, type SseEventHandler } from '../../src/sse/sse-tap.js';
import type { SseEvent } from '../../src/sse/sse-framer.js';
import type { StreamResult } from '../../src/providers/types.js';
import { splitAt } from './chunking.js';

/** A handler that drops events whose data is DROP and records what it saw. */
function recorder(): SseEventHandler & { seen: SseEvent[]; trailing: (SseEvent | undefined)[] } {
  const seen: SseEvent[] = [];
  const trailing: (SseEvent | undefined)[] = [];
  return {
    seen,
    trailing,
    onEvent(event) {
      seen.push(event);
      return event.data === 'DROP' ? 'drop' : 'keep';
    },
    usage: () => ({}),
    result(pending): StreamResult {
      trailing.push(pending);
      return {
        usage: {},
        generatedText: seen.map((e) => e.data).join(','),
        completed: false,
        errored: false,
      };
    },
  };
}

test('without stripping, push returns the very Buffer it was given and flush nothing', () => {
  const handler = recorder();
  const tap = createSseTap(handler, { stripUsageChunk: false });
  const chunks = splitAt(Buffer.from('data: a\n\ndata: DROP\n\ndata: b'), [3, 12, 20]);
  for (const chunk of chunks) assert.equal(tap.push(chunk), chunk);
  assert.deepEqual(
    handler.seen.map((e) => e.data),
    ['a', 'DROP'],
  );
  assert.equal(tap.flush().length, 0);
  // The trailing event without blank line is still read, marked incomplete.
  assert.deepEqual(
    handler.seen.map((e) => [e.data, e.complete]),
    [
      ['a', true],
      ['DROP', true],
      ['b', false],
    ],
  );
});

test('stripping forwards complete events only, minus the dropped ones', () => {
  const tap = createSseTap(recorder(), { stripUsageChunk: true });
  assert.equal(tap.push(Buffer.from('data: a\n\nda')).toString(), 'data: a\n\n');
  assert.equal(tap.push(Buffer.from('ta: b')).toString(), '');
  assert.equal(tap.push(Buffer.from('\n\ndata: DROP\n\n: ping\n\n')).toString(), 'data: b\n\n: ping\n\n');
  assert.equal(tap.push(Buffer.from('data: tail')).toString(), '');
  assert.equal(tap.flush().toString(), 'data: tail');
});

test('stripping still returns the same Buffer when a chunk holds whole events and none is dropped', () => {
  const tap = createSseTap(recorder(), { stripUsageChunk: true });
  const chunk = Buffer.from('data: a\n\ndata: b\n\n');
  assert.equal(tap.push(chunk), chunk);
});

test('a dropped trailing event is not flushed', () => {
  const tap = createSseTap(recorder(), { stripUsageChunk: true });
  assert.equal(tap.push(Buffer.from('data: a\n\ndata: DROP')).toString(), 'data: a\n\n');
  assert.equal(tap.flush().length, 0);
});

test('result() reads the held-back event without consuming it', () => {
  const handler = recorder();
  const tap = createSseTap(handler, { stripUsageChunk: false });
  tap.push(Buffer.from('data: a\n\ndata: b'));
  tap.result();
  assert.equal(handler.trailing.at(-1)?.data, 'b');
  tap.push(Buffer.from('c\n\n'));
  assert.deepEqual(
    handler.seen.map((e) => e.data),
    ['a', 'bc'],
  );
  tap.result();
  assert.equal(handler.trailing.at(-1), undefined);
});

test('an oversized event is forwarded as it passes; later events are still read and dropped', () => {
  const handler = recorder();
  let reported = 0;
  const tap = createSseTap(handler, {
    stripUsageChunk: true,
    maxEventBytes: 32,
    onEventTooLarge: () => (reported += 1),
  });
  const big = `data: ${'x'.repeat(50)}\n\n`;
  const input = `data: a\n\n${big}data: DROP\n\n${big}data: b\n\n`;
  const out = splitAt(Buffer.from(input), [5, 20, 40, 70, 100]).map((c) => tap.push(c));
  out.push(tap.flush());
  assert.equal(Buffer.concat(out).toString(), input.replace('data: DROP\n\n', ''));
  assert.deepEqual(
    handler.seen.map((e) => e.data),
    ['a', 'DROP', 'b'],
  );
  assert.equal(tap.result().eventTooLarge, true);
  assert.equal(reported, 1);
});

test('the bytes of an oversized event leave with the push that brought them', () => {
  const tap = createSseTap(recorder(), { stripUsageChunk: true, maxEventBytes: 16 });
  assert.equal(tap.push(Buffer.from('data: 0123456789')).length, 0); // held: may still fit
  assert.equal(tap.push(Buffer.from('abcdef')).toString(), 'data: 0123456789abcdef');
  assert.equal(tap.push(Buffer.from('ghi')).toString(), 'ghi');
  assert.equal(tap.push(Buffer.from('\n\ndata: b')).toString(), '\n\n');
  assert.equal(tap.flush().toString(), 'data: b');
  assert.equal(tap.result().eventTooLarge, true);
});

test('usageAfterTooLarge: whether the usage changed after the last oversized event', () => {
  /** A handler whose usage is the number in the last `data: n` event. */
  const numbered = (): SseEventHandler => {
    let total: number | undefined;
    const usage = (): { totalTokens?: number } => (total === undefined ? {} : { totalTokens: total });
    return {
      onEvent(event) {
        total = Number(event.data);
        return 'keep';
      },
      usage,
      result: () => ({ usage: usage(), generatedText: '', completed: false, errored: false }),
    };
  };
  const big = `data: ${'9'.repeat(40)}\n\n`;
  const cases = [
    { input: `data: 1\n\n${big}data: 5\n\n`, after: true },
    { input: `${big}data: 5\n\n`, after: true },
    { input: `data: 1\n\n${big}`, after: false }, // only a snapshot from before
    { input: `data: 1\n\n${big}data: 1\n\n`, after: false }, // re-reported, unchanged
    { input: `data: 1\n\n${big}data: 5\n\n${big}`, after: false }, // the last one counts
  ];
  for (const { input, after } of cases) {
    const tap = createSseTap(numbered(), { stripUsageChunk: false, maxEventBytes: 16 });
    tap.push(Buffer.from(input));
    tap.flush();
    assert.equal(tap.result().eventTooLarge, true);
    assert.equal(tap.result().usageAfterTooLarge, after, input);
  }
});

test('no event over the maximum: eventTooLarge is absent', () => {
  const tap = createSseTap(recorder(), { stripUsageChunk: false, maxEventBytes: 64 });
  tap.push(Buffer.from('data: a\n\n'));
  assert.equal(tap.result().eventTooLarge, undefined);
});

/** A handler whose stream ends with the event END; records what it saw. */
function endingRecorder(): SseEventHandler & { seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    onEvent(event) {
      seen.push(event.data);
      return event.data === 'DROP' ? 'drop' : 'keep';
    },
    isComplete: () => seen.includes('END'),
    usage: () => ({}),
    result: (pending) => ({
      usage: {},
      generatedText: [...seen, ...(pending === undefined ? [] : [pending.data])].join(','),
      completed: seen.includes('END'),
      errored: false,
    }),
  };
}

test('after the documented end nothing is read or dropped, every byte is forwarded at once', () => {
  for (const strip of [false, true]) {
    const handler = endingRecorder();
    const tap = createSseTap(handler, { stripUsageChunk: strip, maxEventBytes: 32 });
    const input = `data: a\n\ndata: END\n\ndata: DROP\n\ndata: ${'z'.repeat(40)}\n\ndata: par`;
    const first = tap.push(Buffer.from(input.slice(0, 25)));
    assert.equal(tap.isComplete?.(), true);
    // The partial event after the end is not held back.
    assert.equal(first.toString(), input.slice(0, 25));
    const rest = tap.push(Buffer.from(input.slice(25)));
    assert.equal(rest.toString(), input.slice(25));
    assert.equal(tap.flush().length, 0);
    assert.deepEqual(handler.seen, ['a', 'END']);
    assert.equal(tap.result().generatedText, 'a,END');
    assert.equal(tap.result().eventTooLarge, undefined);
    assert.equal(tap.isComplete?.(), true);
  }
});

test('an end marker in the trailing event of a stream cut before its blank line completes it', () => {
  const handler = endingRecorder();
  const tap = createSseTap(handler, { stripUsageChunk: true });
  assert.equal(tap.push(Buffer.from('data: a\n\ndata: END')).toString(), 'data: a\n\n');
  assert.equal(tap.isComplete?.(), false);
  assert.equal(tap.flush().toString(), 'data: END');
  assert.equal(tap.isComplete?.(), true);
});

// Streams of whole events with one line ending each, some marked DROP: the stripped output is
// the concatenation of the kept events' bytes, whatever the split points.
const eol = fc.constantFrom('\n', '\r', '\r\n');
const payload = fc.oneof(
  fc.constant('DROP'),
  fc.string({ unit: 'binary', maxLength: 8 }).map((s) => s.replace(/[\r\n]/g, '.')),
);
const event = fc
  .tuple(fc.array(payload, { minLength: 1, maxLength: 3 }), fc.boolean(), eol)
  .map(([datas, comment, e]) => {
    const text = (comment ? `: c${e}` : '') + datas.map((d) => `data: ${d}${e}`).join('') + e;
    return { bytes: Buffer.from(text), dropped: datas.length === 1 && datas[0] === 'DROP' };
  });

test('property: stripped output = input minus exactly the dropped events', () => {
  fc.assert(
    fc.property(
      fc.array(event, { maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      (events, points) => {
        const input = Buffer.concat(events.map((e) => e.bytes));
        const expected = Buffer.concat(events.filter((e) => !e.dropped).map((e) => e.bytes));
        const tap = createSseTap(recorder(), { stripUsageChunk: true });
        const out = splitAt(input, points).map((chunk) => tap.push(chunk));
        out.push(tap.flush());
        assert.ok(Buffer.concat(out).equals(expected));
      },
    ),
    { numRuns: 2000 },
  );
});
