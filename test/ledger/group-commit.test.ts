import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createGroupCommitter } from '../../src/ledger/group-commit.js';

test('appends of one event-loop turn are committed in one batch, each promise after its commit', async () => {
  const batches: number[][] = [];
  const committer = createGroupCommitter<number>(
    (items) => batches.push([...items]),
    () => assert.fail('no single commits when the batch succeeds'),
  );
  const done = [1, 2, 3].map((n) => committer.add(n));
  assert.deepEqual(batches, [], 'nothing committed synchronously');
  await Promise.all(done);
  assert.deepEqual(batches, [[1, 2, 3]]);
  await committer.add(4);
  assert.deepEqual(batches, [[1, 2, 3], [4]]);
});

test('a failed batch is retried item by item: one bad item cannot lose the others', async () => {
  const committed: number[] = [];
  const committer = createGroupCommitter<number>(
    () => {
      throw new Error('constraint failed');
    },
    (n) => {
      if (n === 2) throw new Error('bad record');
      committed.push(n);
    },
  );
  const results = await Promise.allSettled([1, 2, 3].map((n) => committer.add(n)));
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  assert.deepEqual(committed, [1, 3]);
});

test('flush commits pending items at once (used by close)', () => {
  const batches: string[][] = [];
  const committer = createGroupCommitter<string>(
    (items) => batches.push(items),
    () => undefined,
  );
  void committer.add('a');
  committer.flush();
  assert.deepEqual(batches, [['a']]);
});

test('a failed batch the store caused (full, locked) rejects every item at once, without retrying each', async () => {
  const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
  let singles = 0;
  const committer = createGroupCommitter<number>(
    () => {
      throw full;
    },
    () => void singles++,
    (err) => (err as { code?: string }).code !== 'SQLITE_FULL',
  );
  const results = await Promise.allSettled([1, 2, 3].map((n) => committer.add(n)));
  assert.deepEqual(
    results.map((r) => (r.status === 'rejected' ? (r.reason as { code?: string }).code : r.status)),
    ['SQLITE_FULL', 'SQLITE_FULL', 'SQLITE_FULL'],
  );
  assert.equal(singles, 0);
});
