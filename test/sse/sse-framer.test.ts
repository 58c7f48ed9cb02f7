import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSseFramer, type SseEvent, type SseFrame, type SseFramer } from '../../src/sse/sse-framer.js';
import { splitAt } from './chunking.js';

interface Fed {
  frames: SseFrame[];
  last: SseEvent | undefined;
}

function feed(chunks: readonly (string | Buffer)[], framer: SseFramer = createSseFramer()): Fed {
  const frames: SseFrame[] = [];
  for (const chunk of chunks)
    frames.push(...framer.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
  return { frames, last: framer.end() };
}

function events(frames: readonly SseFrame[]): SseEvent[] {
  return frames.filter((f): f is SseEvent => f.kind === 'event');
}

function fields(event: SseEvent | undefined): { event: string; data: string; id?: string } | undefined {
  if (event === undefined) return undefined;
  return event.id === undefined
    ? { event: event.event, data: event.data }
    : { event: event.event, data: event.data, id: event.id };
}

function rawOf(fed: Fed): string {
  return Buffer.concat([...fed.frames.map((f) => f.raw), ...(fed.last ? [fed.last.raw] : [])]).toString(
    'latin1',
  );
}

test('LF, CR and CRLF line endings frame the same events, raw spans included', () => {
  for (const eol of ['\n', '\r', '\r\n']) {
    const input = `event: a${eol}data: 1${eol}id: 7${eol}${eol}data: 2${eol}data: 3${eol}${eol}`;
    const fed = feed([input]);
    // With CR endings the last blank line is a CR at the very end: only end() can tell no LF follows.
    const all = [...events(fed.frames), ...(fed.last ? [fed.last] : [])];
    assert.ok(all.every((e) => e.complete));
    assert.deepEqual(all.map(fields), [
      { event: 'a', data: '1', id: '7' },
      { event: 'message', data: '2\n3' },
    ]);
    assert.deepEqual(
      all.map((f) => f.raw.toString()),
      [`event: a${eol}data: 1${eol}id: 7${eol}${eol}`, `data: 2${eol}data: 3${eol}${eol}`],
    );
  }
});

test('a CR at the end of one chunk and an LF at the start of the next are one line break', () => {
  const fed = feed(['data: 1\r', '\n\r', '\ndata: 2\r\n\r\n']);
  assert.deepEqual(events(fed.frames).map(fields), [
    { event: 'message', data: '1' },
    { event: 'message', data: '2' },
  ]);
  // The first event's raw span owns its whole CRLF blank line, even though it arrived split.
  assert.equal(fed.frames[0]?.raw.toString(), 'data: 1\r\n\r\n');
});

test('an event ended by a lone CR is emitted once the next byte shows no LF follows', () => {
  const framer = createSseFramer();
  assert.deepEqual(framer.push(Buffer.from('data: 1\r\r')), []);
  assert.equal(framer.pendingBytes, 9);
  const frames = framer.push(Buffer.from('data: 2\r\r'));
  assert.deepEqual(events(frames).map(fields), [{ event: 'message', data: '1' }]);
  const last = framer.end();
  assert.deepEqual(fields(last), { event: 'message', data: '2' });
  assert.equal(last?.complete, true);
});

test('a UTF-8 BOM at stream start is skipped, even split across chunks, and kept in raw', () => {
  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  const input = Buffer.concat([bom, Buffer.from('data: x\n\n')]);
  for (let cut = 1; cut < 5; cut += 1) {
    const fed = feed(splitAt(input, [1, cut]));
    assert.deepEqual(events(fed.frames).map(fields), [{ event: 'message', data: 'x' }]);
    assert.ok(Buffer.from(rawOf(fed), 'latin1').equals(input));
  }
  // Only at the start: a later BOM is content of the line it is in.
  const late = feed([Buffer.concat([Buffer.from('data: a\n\n'), bom, Buffer.from('data: b\n\n')])]);
  assert.deepEqual(fields(events(late.frames)[0]), { event: 'message', data: 'a' });
  assert.equal(events(late.frames)[1]?.hasData, false);
});

test('bytes that start like a BOM but are not one stay line content', () => {
  const fed = feed([Buffer.from([0xef]), Buffer.from('data: x\n\ndata: y\n\n')]);
  // The first line is "\xEFdata: x": an unknown field, so the first event has no data.
  assert.equal(events(fed.frames)[0]?.hasData, false);
  assert.deepEqual(fields(events(fed.frames)[1]), { event: 'message', data: 'y' });
});

test('comments, fields without colon, one leading space removed, unknown fields ignored', () => {
  const fed = feed([': keep-alive\ndata\ndata:  two spaces\ndata:none\nfoo: bar\nretry: 10\nevent\n\n']);
  assert.deepEqual(events(fed.frames).map(fields), [{ event: 'message', data: '\n two spaces\nnone' }]);
});

test('comment-only blocks and stray blank lines are frames without data', () => {
  const fed = feed([': ping\n\n\ndata: x\n\n']);
  assert.deepEqual(
    events(fed.frames).map((e) => [e.raw.toString(), e.hasData]),
    [
      [': ping\n\n', false],
      ['\n', false],
      ['data: x\n\n', true],
    ],
  );
});

test('ids holding NUL are ignored; the id belongs to its event only', () => {
  const fed = feed(['id: a\0b\ndata: 1\n\nid: 2\ndata: 2\n\ndata: 3\n\n']);
  assert.deepEqual(
    events(fed.frames).map((e) => e.id),
    [undefined, '2', undefined],
  );
});

test('an event split at every byte, mid UTF-8 character included', () => {
  const input = Buffer.from('event: été\r\ndata: 日本語 🎉\r\n\r\n');
  const oneByteChunks = splitAt(
    input,
    Array.from({ length: input.length }, (_, i) => i),
  );
  const fed = feed(oneByteChunks);
  assert.deepEqual(events(fed.frames).map(fields), [{ event: 'été', data: '日本語 🎉' }]);
  assert.ok(Buffer.from(rawOf(fed), 'latin1').equals(input));
});

test('end() returns the trailing event without blank line as incomplete, last line parsed', () => {
  const fed = feed(['data: 1\n\ndata: {"a":', '1}']);
  assert.equal(events(fed.frames).length, 1);
  assert.equal(fed.last?.complete, false);
  assert.equal(fed.last?.data, '{"a":1}');
  assert.equal(fed.last?.raw.toString(), 'data: {"a":1}');
});

test('peek() shows the held event without consuming it', () => {
  const framer = createSseFramer();
  framer.push(Buffer.from('data: 1\ndata: 2'));
  assert.equal(framer.peek()?.data, '1\n2');
  assert.equal(framer.peek()?.data, '1\n2');
  const frames = framer.push(Buffer.from('3\n\n'));
  assert.deepEqual(events(frames).map(fields), [{ event: 'message', data: '1\n23' }]);
  assert.equal(framer.peek(), undefined);
});

test('an event over the maximum size is handed back as it passes; framing resumes after it', () => {
  const framer = createSseFramer({ maxEventSize: 64 });
  const head = 'data: ok\n\n';
  const big = `data: ${'x'.repeat(100)}\n\n`;
  const tail = 'data: after\n\n';
  const fed = feed(
    [head + big.slice(0, 30), big.slice(30, 80), big.slice(80) + tail, 'data: more\n\n'],
    framer,
  );
  assert.equal(framer.oversizedEvents, 1);
  assert.deepEqual(
    fed.frames.map((f) => (f.kind === 'event' ? f.data : f.kind)),
    ['ok', 'oversized', 'oversized', 'oversized', 'after', 'more'],
  );
  // The oversized spans are exactly the big event's bytes; only the first is marked first.
  const spans = fed.frames.filter((f) => f.kind === 'oversized');
  assert.equal(Buffer.concat(spans.map((f) => f.raw)).toString(), big);
  assert.deepEqual(
    spans.map((f) => f.kind === 'oversized' && f.first),
    [true, false, false],
  );
  assert.equal(rawOf(fed), head + big + tail + 'data: more\n\n');
  // Nothing of the oversized event is ever held: at most one event of the maximum size is.
  assert.equal(fed.last, undefined);
});

test('an oversized event completed inside one chunk: later events in the same chunk are parsed', () => {
  const big = `data: ${'y'.repeat(200)}\n\n`;
  const fed = feed([`${big}data: z\n\n`], createSseFramer({ maxEventSize: 100 }));
  assert.deepEqual(
    events(fed.frames).map((e) => e.data),
    ['z'],
  );
  const spans = fed.frames.filter((f) => f.kind === 'oversized');
  assert.equal(Buffer.concat(spans.map((f) => f.raw)).toString(), big);
});

test('resynchronising after an oversized event: CR, LF and CRLF, the blank line split anywhere', () => {
  for (const eol of ['\n', '\r', '\r\n']) {
    const big = `event: e${eol}data: ${'w'.repeat(150)}${eol}data: 2${eol}: c${eol}${eol}`;
    const after = `data: usage${eol}${eol}`;
    const input = Buffer.from(`data: a${eol}${eol}${big}${after}`);
    for (let cut = 1; cut < input.length; cut += 1) {
      for (const second of [cut + 1, input.length - 2]) {
        const framer = createSseFramer({ maxEventSize: 64 });
        const fed = feed(splitAt(input, [cut, second]), framer);
        const datas = [...events(fed.frames), ...(fed.last ? [fed.last] : [])]
          .filter((e) => e.hasData)
          .map((e) => e.data);
        assert.deepEqual(datas, ['a', 'usage'], `eol ${JSON.stringify(eol)} cuts ${cut},${second}`);
        assert.equal(framer.oversizedEvents, 1);
        assert.equal(rawOf(fed), input.toString('latin1'));
        const spans = fed.frames.filter((f) => f.kind === 'oversized');
        // The LF of a CRLF blank line split from its CR still belongs to the oversized event.
        assert.equal(Buffer.concat(spans.map((f) => f.raw)).toString(), big, `cuts ${cut},${second}`);
      }
    }
  }
});

test('several oversized events in a row are each counted, the events between them parsed', () => {
  const big = (c: string): string => `data: ${c.repeat(80)}\n\n`;
  const input = `${big('a')}data: 1\n\n${big('b')}${big('c')}data: 2\n\n`;
  const framer = createSseFramer({ maxEventSize: 40 });
  const fed = feed(splitAt(Buffer.from(input), [7, 50, 90, 120, 200]), framer);
  assert.equal(framer.oversizedEvents, 3);
  assert.deepEqual(
    events(fed.frames).map((e) => e.data),
    ['1', '2'],
  );
  assert.equal(rawOf(fed), input);
});

test('a stream ending inside an oversized event: nothing held, end() returns nothing', () => {
  const framer = createSseFramer({ maxEventSize: 16 });
  const fed = feed([`data: ok\n\ndata: ${'q'.repeat(40)}`], framer);
  assert.equal(framer.pendingBytes, 0);
  assert.equal(fed.last, undefined);
  assert.equal(rawOf(fed), `data: ok\n\ndata: ${'q'.repeat(40)}`);
});

test('events that exactly fit the maximum size are parsed', () => {
  const event = 'data: 12345\n\n';
  const fed = feed([event, event], createSseFramer({ maxEventSize: event.length }));
  assert.equal(events(fed.frames).length, 2);
});

test('a large event fed in small chunks is framed in linear time', () => {
  // A framer that re-scans or re-copies its growing buffer on every push does ~n²/32 work here
  // (tens of GB), far beyond the bound; a linear one takes milliseconds.
  const payload = 'z'.repeat(900_000);
  const input = Buffer.from(`data: ${payload}\n\n`);
  const framer = createSseFramer();
  const started = process.hrtime.bigint();
  const frames: SseFrame[] = [];
  for (let i = 0; i < input.length; i += 16) frames.push(...framer.push(input.subarray(i, i + 16)));
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  assert.equal(events(frames)[0]?.data, payload);
  assert.ok(elapsedMs < 3000, `took ${elapsedMs} ms`);
});

test('a CRLF line break split CR | LF | LF: the second LF is a blank line', () => {
  const fed = feed(['data: x\r', '\n', '\n', 'data: y\n\n']);
  assert.deepEqual(
    events(fed.frames).map((e) => e.data),
    ['x', 'y'],
  );
});

test('empty chunks are harmless and pushes after end() come back unparsed', () => {
  const framer = createSseFramer();
  assert.deepEqual(framer.push(Buffer.alloc(0)), []);
  framer.end();
  const after = framer.push(Buffer.from('data: x\n\n'));
  assert.deepEqual(
    after.map((f) => [f.kind, f.raw.toString()]),
    [['skipped', 'data: x\n\n']],
  );
});
