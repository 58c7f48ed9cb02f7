// jsonText writes what JSON.stringify writes, also past the depth where JSON.stringify overflows
// the stack (the arguments of a rogue backend's function call).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { jsonText } from '../../src/providers/json-text.js';

/** `value` inside `depth` levels of alternating arrays and one-member objects, as JSON text. */
function nestedText(inner: string, depth: number): string {
  let open = '';
  let close = '';
  for (let level = 0; level < depth; level++) {
    open += level % 2 === 0 ? '[' : '{"k":';
    close = (level % 2 === 0 ? ']' : '}') + close;
  }
  return open + inner + close;
}

test('jsonText equals JSON.stringify on any parsed JSON value', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (generated) => {
      const value: unknown = JSON.parse(JSON.stringify(generated));
      assert.equal(jsonText(value), JSON.stringify(value));
    }),
  );
});

test('nested 50 000 deep, where JSON.stringify throws: the same text, written without recursion', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 3 }), (generated) => {
      const inner = JSON.stringify(generated);
      const text = nestedText(inner, 50_000);
      const value: unknown = JSON.parse(text);
      assert.throws(() => JSON.stringify(value), RangeError);
      assert.equal(jsonText(value), text);
    }),
    { numRuns: 20 },
  );
});
