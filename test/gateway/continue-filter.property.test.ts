// Property tests of the 100 Continue filter of upstream sockets: on any sequence of answers,
// informational heads and bodies, split at any points, it removes exactly the well-formed 100
// heads that start an answer and hands every other byte on, in order, unchanged.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  ContinueFilter,
  MAX_CONTINUE_HEAD_BYTES,
  MAX_CONTINUES_REMOVED,
} from '../../src/gateway/continue-filter.js';
import { splitAt } from '../sse/chunking.js';

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

/** One piece of an answer: `removed` when the filter must take it out. */
interface Piece {
  bytes: Buffer;
  removed: boolean;
}

const tokenChar = fc.constantFrom(...'abcxyz-_0129!#$%&*+.^`|~ABZ'.split(''));
const token = fc.string({ unit: tokenChar, minLength: 1, maxLength: 10 });
// Field values and reason phrases: visible ASCII, space, tab and obs-text (latin1), never CR/LF.
const valueChar = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }),
  fc.constant(0x09),
  fc.integer({ min: 0x80, max: 0xff }),
);
const value = fc.array(valueChar, { maxLength: 20 }).map((codes) => String.fromCharCode(...codes));
const headerLines = fc
  .array(fc.tuple(token, value), { maxLength: 4 })
  .map((fields) => fields.map(([name, v]) => `${name}:${v}\r\n`).join(''));
const version = fc.constantFrom('1.1', '1.0');

const continueHead = fc
  .tuple(version, fc.option(value, { nil: undefined }), headerLines)
  .map(
    ([v, reason, headers]) => `HTTP/${v} 100${reason === undefined ? '' : ` ${reason}`}\r\n${headers}\r\n`,
  );

const otherCode = fc.integer({ min: 102, max: 199 });
const otherInformational = fc
  .tuple(version, otherCode, value, headerLines)
  .map(([v, code, reason, headers]) => `HTTP/${v} ${code} ${reason}\r\n${headers}\r\n`);

/** Body bytes, often holding what looks like a 100 head, at any place. */
const bodyBytes = fc
  .array(
    fc.oneof(
      fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
      fc
        .constantFrom(CONTINUE, 'HTTP/1.1 103 Early Hints\r\n\r\n', '\r\n\r\n', 'HTTP/1.')
        .map((s) => Buffer.from(s)),
    ),
    { maxLength: 6 },
  )
  .map((parts) => Buffer.concat(parts));

const finalAnswer = fc
  .tuple(version, fc.oneof(fc.integer({ min: 200, max: 599 }), fc.constant(101)), headerLines, bodyBytes)
  .map(([v, code, headers, body]) =>
    Buffer.concat([
      Buffer.from(`HTTP/${v} ${code} Whatever\r\n${headers}content-length: ${body.length}\r\n\r\n`, 'latin1'),
      body,
    ]),
  );

/** One answer: informational heads (100s among others), then the final answer. */
const answer = fc
  .tuple(
    fc.array(
      fc.oneof(
        continueHead.map((head): Piece => ({ bytes: Buffer.from(head, 'latin1'), removed: true })),
        otherInformational.map((head): Piece => ({ bytes: Buffer.from(head, 'latin1'), removed: false })),
      ),
      { maxLength: 5 },
    ),
    finalAnswer,
  )
  .map(([heads, final]): Piece[] => [...heads, { bytes: final, removed: false }]);

const splits = fc.array(fc.nat({ max: 1500 }), { maxLength: 12 });

/** Every offset where `text` starts in `bytes`. */
function offsetsOf(bytes: Buffer, text: string): number[] {
  const offsets: number[] = [];
  for (let at = bytes.indexOf(text); at !== -1; at = bytes.indexOf(text, at + 1)) offsets.push(at);
  return offsets;
}

const join = (pieces: readonly Piece[], keep: (p: Piece) => boolean): Buffer =>
  Buffer.concat(pieces.filter(keep).map((p) => p.bytes));

test('on a keep-alive connection, each answer loses exactly its leading 100 heads, whatever the splits', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(answer, splits, fc.boolean()), { minLength: 1, maxLength: 3 }),
      (answers) => {
        const filter = new ContinueFilter();
        for (const [pieces, random, atLookalikes] of answers) {
          filter.requestWritten();
          const input = join(pieces, () => true);
          // Often also cut where something starts like a status line (in heads and in bodies).
          const points = atLookalikes ? [...random, ...offsetsOf(input, 'HTTP/1.')] : random;
          const expected = join(pieces, (p) => !p.removed);
          const out: Buffer[] = [];
          let consumed = 0;
          for (const chunk of splitAt(input, points)) {
            const passed = filter.filter(chunk);
            if (passed !== undefined) out.push(passed);
            consumed += chunk.length;
            // Bytes go on in order, and only a head being looked at is held back.
            const emitted = Buffer.concat(out);
            assert.deepEqual(emitted, expected.subarray(0, emitted.length));
            let removedSoFar = 0;
            let end = 0;
            for (const piece of pieces) {
              end += piece.bytes.length;
              if (piece.removed && end <= consumed) removedSoFar += piece.bytes.length;
            }
            const held = consumed - emitted.length - removedSoFar;
            assert.ok(held >= 0 && held <= MAX_CONTINUE_HEAD_BYTES, `held ${held}`);
          }
          assert.deepEqual(Buffer.concat(out), expected);
        }
        assert.equal(filter.flush(), undefined);
      },
    ),
    { numRuns: 400 },
  );
});

test('an answer cut anywhere: what is held is given back at the end, nothing else is lost', () => {
  fc.assert(
    fc.property(answer, fc.nat(), splits, (pieces, cutAt, points) => {
      const input = join(pieces, () => true);
      const cut = cutAt % (input.length + 1);
      // Removed: the 100 heads wholly before the cut.
      const expected: Buffer[] = [];
      let start = 0;
      for (const piece of pieces) {
        const end = start + piece.bytes.length;
        if (!(piece.removed && end <= cut)) expected.push(input.subarray(start, Math.min(end, cut)));
        start = end;
        if (start >= cut) break;
      }
      const filter = new ContinueFilter();
      filter.requestWritten();
      const out = splitAt(input.subarray(0, cut), points).flatMap((chunk) => filter.filter(chunk) ?? []);
      const held = filter.flush();
      if (held !== undefined) out.push(held);
      assert.deepEqual(Buffer.concat(out), Buffer.concat(expected));
    }),
    { numRuns: 400 },
  );
});

test('before any request is written, every byte passes untouched', () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.constant(new TextEncoder().encode(CONTINUE))), {
        maxLength: 8,
      }),
      (reads) => {
        const filter = new ContinueFilter();
        for (const read of reads) {
          const chunk = Buffer.from(read);
          assert.equal(filter.filter(chunk), chunk, 'the same buffer, not a copy');
        }
      },
    ),
  );
});

/** Heads that start like a 100 but are not a well-formed one: the filter leaves them alone. */
const malformedContinue = fc.constantFrom(
  'HTTP/1.1 100 Continue\n\n',
  'HTTP/1.1 100 Continue\r\n\n',
  'HTTP/1.1 100 Continue\r\nno colon here\r\n\r\n',
  'HTTP/1.1 100 Continue\r\nbad name: x\r\n\r\n',
  'HTTP/1.1 100 Cont\rinue\r\n\r\n',
  'HTTP/1.1 100 Continue\r\nx: a\x00b\r\n\r\n',
  `HTTP/1.1 100 Continue\r\nx-pad: ${'a'.repeat(MAX_CONTINUE_HEAD_BYTES)}\r\n\r\n`,
);

test('a 100 head that is not well formed goes on as it came, and so does the rest', () => {
  fc.assert(
    fc.property(malformedContinue, finalAnswer, splits, (head, final, points) => {
      const input = Buffer.concat([Buffer.from(head, 'latin1'), final]);
      const filter = new ContinueFilter();
      filter.requestWritten();
      const out = splitAt(input, points).flatMap((chunk) => filter.filter(chunk) ?? []);
      const held = filter.flush();
      if (held !== undefined) out.push(held);
      assert.deepEqual(Buffer.concat(out), input);
    }),
  );
});

/** Feeds `reads` after one request and returns what went on (plus what was held at the end). */
function run(reads: readonly string[]): string {
  const filter = new ContinueFilter();
  filter.requestWritten();
  const out = reads.flatMap((read) => filter.filter(Buffer.from(read, 'latin1')) ?? []);
  const held = filter.flush();
  if (held !== undefined) out.push(held);
  return Buffer.concat(out).toString('latin1');
}

const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi';

test('examples: what is removed and what is not', () => {
  assert.equal(run([CONTINUE + OK]), OK);
  assert.equal(run(['HTTP/1.1 100\r\n\r\n' + OK]), OK);
  assert.equal(run(['HTTP/1.0 100 Continue\r\nx-a: 1\r\ndate: now\r\n\r\n', OK]), OK);
  assert.equal(
    run([CONTINUE, CONTINUE, 'HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n', CONTINUE + OK]),
    'HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n' + OK,
  );
  // A protocol switch ends the filter's part: what follows is not HTTP any more.
  const upgrade = 'HTTP/1.1 101 Switching Protocols\r\n\r\n' + CONTINUE;
  assert.equal(run([upgrade]), upgrade);
  // Not HTTP/1.0 or 1.1, or a 4-digit status: not the filter's to judge.
  assert.equal(run(['HTTP/1.9 100 Continue\r\n\r\n' + OK]), 'HTTP/1.9 100 Continue\r\n\r\n' + OK);
  assert.equal(run(['HTTP/2 100 Continue\r\n\r\n' + OK]), 'HTTP/2 100 Continue\r\n\r\n' + OK);
  assert.equal(run(['HTTP/1.1 1000 Continue\r\n\r\n' + OK]), 'HTTP/1.1 1000 Continue\r\n\r\n' + OK);
  // Another 1xx whose line ends are not CRLF: where it ends is uncertain, the filter stops.
  const bare = 'HTTP/1.1 103 Early Hints\n\n' + CONTINUE + OK;
  assert.equal(run([bare]), bare);
});

test(`more than ${MAX_CONTINUES_REMOVED} 100 heads before one answer: the next one goes on`, () => {
  const many = CONTINUE.repeat(MAX_CONTINUES_REMOVED + 1) + OK;
  assert.equal(run([many]), CONTINUE + OK);
  assert.equal(run([CONTINUE.repeat(MAX_CONTINUES_REMOVED) + OK]), OK);
});

test('a 100 head arriving byte by byte is held only until it is whole', () => {
  const filter = new ContinueFilter();
  filter.requestWritten();
  for (const byte of Buffer.from(CONTINUE)) assert.equal(filter.filter(Buffer.from([byte])), undefined);
  const rest = Buffer.from(OK);
  assert.deepEqual(filter.filter(rest), rest);
  // The answer started: a later read that looks like a 100 is part of the body.
  const later = Buffer.from(CONTINUE);
  assert.equal(filter.filter(later), later);
  assert.equal(filter.flush(), undefined);
});

test('a request written while an answer is being looked at does not restart the filter', () => {
  const filter = new ContinueFilter();
  filter.requestWritten();
  assert.equal(filter.filter(Buffer.from('HTTP/1.1 1')), undefined);
  filter.requestWritten();
  assert.equal(filter.filter(Buffer.from('00 Continue\r\n\r\n')), undefined);
  assert.equal(filter.filter(Buffer.from(OK))?.toString(), OK);
});
