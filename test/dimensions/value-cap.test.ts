import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  capLabelValue,
  capLedgerDimensions,
  capLedgerValue,
  capValue,
  MAX_LABEL_VALUE_CHARS,
  MAX_LEDGER_VALUE_CHARS,
} from '../../src/dimensions/value-cap.js';

/** The count a marker states, or undefined when the value carries none. */
function markedCount(value: string): number | undefined {
  const m = /…\[\+(\d+) chars\]$/.exec(value);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

function hasLoneSurrogate(value: string): boolean {
  return /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(value);
}

describe('capValue', () => {
  it('keeps values up to the limit as they are', () => {
    assert.equal(capLabelValue(''), '');
    assert.equal(capLabelValue('gpt-4o'), 'gpt-4o');
    const atLimit = 'a'.repeat(MAX_LABEL_VALUE_CHARS);
    assert.equal(capLabelValue(atLimit), atLimit);
    const ledgerAtLimit = 'b'.repeat(MAX_LEDGER_VALUE_CHARS);
    assert.equal(capLedgerValue(ledgerAtLimit), ledgerAtLimit);
  });

  it('cuts a longer value to exactly the limit, with a marker that counts what was cut', () => {
    const cases: [number, number, number][] = [
      // [length, max, characters kept]
      [129, 128, 116], // 13 cut: two digits, so one more character goes
      [300, 128, 115],
      [3 * 1024 * 1024, 128, 111],
      [1025, 1024, 1012],
      [12_000, 1024, 1009],
      [3 * 1024 * 1024, 1024, 1007],
    ];
    for (const [length, max, kept] of cases) {
      const value = 'v'.repeat(length);
      const capped = capValue(value, max);
      assert.equal(capped, `${'v'.repeat(kept)}…[+${length - kept} chars]`, `${length} → ${max}`);
      assert.equal(capped.length, max);
    }
  });

  it('never splits a surrogate pair', () => {
    // An emoji (two UTF-16 units) straddling the cut: it goes whole.
    const value = 'a'.repeat(115) + '😀' + 'z'.repeat(50);
    const capped = capLabelValue(value);
    assert.equal(capped, `${'a'.repeat(115)}…[+52 chars]`);
    assert.equal(capped.length, MAX_LABEL_VALUE_CHARS - 1);
    assert.equal(hasLoneSurrogate(capped), false);
  });

  it('holds for any value and limit: bounded, deterministic, prefix kept, count right', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 3000 }),
        fc.integer({ min: 32, max: 2048 }),
        (value, max) => {
          const capped = capValue(value, max);
          assert.equal(capValue(value, max), capped);
          if (value.length <= max) {
            assert.equal(capped, value);
            return;
          }
          assert.ok(capped.length <= max && capped.length >= max - 1, `${capped.length} for ${max}`);
          const count = markedCount(capped);
          assert.ok(count !== undefined);
          const kept = value.length - count;
          assert.equal(capped.slice(0, kept), value.slice(0, kept));
          assert.equal(capped.length, kept + `…[+${count} chars]`.length);
          if (!hasLoneSurrogate(value)) assert.equal(hasLoneSurrogate(capped), false);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('capLedgerDimensions', () => {
  it('caps default and custom values to the ledger maximum and says whether any was cut', () => {
    const long = 'u'.repeat(5000);
    const { dimensions, custom, truncated } = capLedgerDimensions(
      { api: 'openai', operation: 'chat.completions', user: long, model: 'gpt-4o', stream: true },
      { team: 'blue', note: long },
    );
    assert.equal(truncated, true);
    assert.equal(dimensions.user?.length, MAX_LEDGER_VALUE_CHARS);
    assert.equal(markedCount(dimensions.user ?? ''), 5000 - 1010);
    assert.equal(dimensions.model, 'gpt-4o');
    assert.equal(dimensions.stream, true);
    assert.deepEqual(custom, { team: 'blue', note: capLedgerValue(long) });
  });

  it('leaves values within the maximum untouched and unflagged', () => {
    const ok = 'm'.repeat(MAX_LEDGER_VALUE_CHARS);
    const result = capLedgerDimensions({ api: 'a', operation: 'o', model: ok, stream: false }, { t: ok });
    assert.equal(result.truncated, false);
    assert.equal(result.dimensions.model, ok);
    assert.equal(result.custom.t, ok);
  });
});
