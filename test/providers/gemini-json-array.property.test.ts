// Property tests of the streamed-JSON-array scanner: whatever the elements hold and wherever the
// bytes are split, it finds exactly the elements JSON.parse finds in the whole array.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createJsonArrayScanner } from '../../src/providers/gemini/index.js';
import { splitAt } from '../sse/chunking.js';

/** Characters that trip naive scanners: structure inside strings, escapes, multi-byte UTF-8. */
const TRICKY = fc.constantFrom(
  'a',
  ' ',
  '"',
  '\\',
  ']',
  '[',
  '}',
  '{',
  ',',
  '\n',
  '\r',
  '\u2028',
  'é',
  '😀',
  '\\"',
);
const trickyString = fc.string({ unit: TRICKY, maxLength: 12 });

const element = fc.object({
  key: trickyString,
  values: [
    trickyString,
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
  ],
  maxDepth: 3,
  maxKeys: 5,
});

/** Whitespace and separators the API (and JSON) allow between elements. */
const separator = fc.constantFrom(',', ',\r\n', '\r\n,\r\n', ' , ', '\n,\n');
const framing = fc.record({
  indent: fc.constantFrom(0, 2),
  separator,
  lead: fc.constantFrom('', ' ', '\r\n'),
  trail: fc.constantFrom('', '\n', '\r\n'),
});

function scanAll(bytes: Buffer, points: readonly number[]): { elements: unknown[]; closed: boolean } {
  const scanner = createJsonArrayScanner();
  const elements: unknown[] = [];
  for (const piece of splitAt(bytes, points)) {
    for (const found of scanner.push(piece)) elements.push(JSON.parse(found.toString('utf8')) as unknown);
  }
  return { elements, closed: scanner.closed };
}

test('scanner: same elements as JSON.parse of the whole array, split anywhere', () => {
  fc.assert(
    fc.property(
      fc.array(element, { maxLength: 8 }),
      framing,
      fc.array(fc.nat(), { maxLength: 40 }),
      (values, frame, rawPoints) => {
        const expected = JSON.parse(JSON.stringify(values)) as unknown[];
        const body = values.map((v) => JSON.stringify(v, null, frame.indent)).join(frame.separator);
        const bytes = Buffer.from(`${frame.lead}[${body}]${frame.trail}`, 'utf8');
        assert.deepEqual(JSON.parse(bytes.toString('utf8')), expected, 'the generated array is valid JSON');
        const points = rawPoints.map((p) => p % (bytes.length + 1));
        const { elements, closed } = scanAll(bytes, points);
        assert.deepEqual(elements, expected);
        assert.equal(closed, true);
      },
    ),
    { numRuns: 500 },
  );
});

test('scanner: a truncated array yields exactly its whole elements and is not closed', () => {
  fc.assert(
    fc.property(fc.array(element, { minLength: 1, maxLength: 6 }), fc.nat(), (values, at) => {
      const texts = values.map((v) => JSON.stringify(v));
      const bytes = Buffer.from(`[${texts.join(',\r\n')}]`, 'utf8');
      const cut = at % bytes.length;
      const { elements, closed } = scanAll(bytes.subarray(0, cut), []);
      // Elements whose last byte lies before the cut.
      let end = 1;
      let whole = 0;
      for (const text of texts) {
        end += Buffer.byteLength(text);
        if (end <= cut) whole += 1;
        end += 3;
      }
      assert.deepEqual(elements, JSON.parse(JSON.stringify(values.slice(0, whole))));
      assert.equal(closed, false);
    }),
    { numRuns: 300 },
  );
});

test('scanner: an element over the size limit is skipped, the scan goes on', () => {
  const scanner = createJsonArrayScanner({ maxElementSize: 64 });
  const big = JSON.stringify({ data: 'x'.repeat(200), nested: { s: '}]' } });
  const small = JSON.stringify({ usageMetadata: { totalTokenCount: 5 } });
  const bytes = Buffer.from(`[${small},${big},\r\n${small}]`);
  const found = splitAt(bytes, [10, 70, 71, 150, 230]).flatMap((piece) => scanner.push(piece));
  assert.deepEqual(
    found.map((b) => b.toString()),
    [small, small],
  );
  assert.equal(scanner.skipped, 1);
  assert.equal(scanner.closed, true);
});
