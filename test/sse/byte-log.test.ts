import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { createByteLog } from '../../src/sse/byte-log.js';

test('an empty log has no bytes', () => {
  assert.equal(createByteLog().bytes().length, 0);
});

test('appends of any sizes, past the initial capacity, read back as their concatenation', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 60 }),
      fc.integer({ min: 1, max: 64 }),
      (parts, capacity) => {
        const log = createByteLog(capacity);
        for (const part of parts) log.append(Buffer.from(part));
        assert.deepEqual(log.bytes(), Buffer.concat(parts.map((p) => Buffer.from(p))));
      },
    ),
  );
});

test('the log copies: changing an appended buffer afterwards changes nothing', () => {
  const log = createByteLog(2);
  const part = Buffer.from('abc');
  log.append(part);
  part.fill(0x7a);
  log.append(Buffer.from('def'));
  assert.equal(log.bytes().toString(), 'abcdef');
});
