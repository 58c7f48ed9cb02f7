import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRecordId } from '../../src/ledger/record-id.js';

test('record ids are RFC 9562 version-7 UUIDs carrying the time, ordered by time', () => {
  const t = Date.UTC(2026, 10, 23, 12, 0, 0);
  const id = createRecordId(t);
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(parseInt(id.replace('-', '').slice(0, 12), 16), t);
  const ids = [t, t + 1, t + 1000, t + 86_400_000].map((ms) => createRecordId(ms));
  assert.deepEqual([...ids].sort(), ids);
  assert.notEqual(createRecordId(t), createRecordId(t), 'random bits differ within one millisecond');
});
