import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRecordIdGenerator } from '../../src/ledger/record-id.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('record ids are RFC 9562 version-7 UUIDs carrying the time', () => {
  const next = createRecordIdGenerator();
  const t = Date.UTC(2026, 10, 23, 12, 0, 0);
  const id = next(t);
  assert.match(id, V7);
  assert.equal(parseInt(id.replace('-', '').slice(0, 12), 16), t);
});

test('ids of one generator sort in creation order, within a millisecond and across a clock step back', () => {
  const next = createRecordIdGenerator();
  const t = Date.UTC(2026, 10, 23, 12, 0, 0);
  const ids = [t, t, t, t + 1, t + 1, t - 5, t + 1000].map((ms) => next(ms));
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(new Set(ids).size, ids.length);
  for (const id of ids) assert.match(id, V7);
});

test('more than 4096 ids in one millisecond roll over into the next millisecond, still ordered', () => {
  const next = createRecordIdGenerator();
  const ids = Array.from({ length: 5000 }, () => next(1_000));
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(parseInt(ids.at(-1)?.replace('-', '').slice(0, 12) ?? '', 16), 1_001);
});
