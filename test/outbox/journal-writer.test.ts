import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createJournalWriter } from '../../src/outbox/journal-writer.js';
import { segmentName } from '../../src/outbox/segment-files.js';
import { makeRecord, makeTempDir } from '../ledger/fixtures/records.js';

const line = (id: string): string => `${JSON.stringify(makeRecord({ id }))}\n`;

describe('outbox journal writer', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir: root, cleanup } = await makeTempDir()));
  after(() => cleanup());
  let n = 0;
  const freshDir = (): string => {
    const dir = join(root, `i${n++}`);
    mkdirSync(dir);
    return dir;
  };

  it('writes the records of one event-loop turn in one write, and each promise resolves after it', async () => {
    const dir = freshDir();
    const writes: number[] = [];
    const writer = createJournalWriter(dir, { onWritten: (records) => writes.push(records) });
    const first = Array.from({ length: 50 }, (_, i) => writer.append(line(`a${i}`)));
    await Promise.all(first);
    const second = Array.from({ length: 7 }, (_, i) => writer.append(line(`b${i}`)));
    await Promise.all(second);
    assert.deepEqual(writes, [50, 7]);
    writer.close();
    const text = readFileSync(join(dir, segmentName(1)), 'utf8');
    assert.equal(text.split('\n').length - 1, 57);
    assert.ok(text.endsWith('\n'));
  });

  it('starts a new segment on every start and rotates past the segment size', async () => {
    const dir = freshDir();
    const one = createJournalWriter(dir);
    await one.append(line('x'));
    one.close();
    const two = createJournalWriter(dir, { segmentBytes: 1 });
    await two.append(line('y'));
    await two.append(line('z'));
    two.close();
    assert.deepEqual(readdirSync(dir).sort(), [segmentName(1), segmentName(2), segmentName(3)]);
    assert.match(readFileSync(join(dir, segmentName(3)), 'utf8'), /"id":"z"/);
  });

  it('a failed write (ENOSPC on /dev/full) rejects the turn, leaves no partial line, and the next write goes on in a new segment', async () => {
    const dir = freshDir();
    const writer = createJournalWriter(dir, { segmentBytes: 1 });
    await writer.append(line('ok1'));
    // The next segment is /dev/full: every write to it fails with ENOSPC.
    symlinkSync('/dev/full', join(dir, segmentName(2)));
    const failed = await Promise.allSettled([writer.append(line('f1')), writer.append(line('f2'))]);
    assert.deepEqual(
      failed.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    assert.equal(((failed[0] as PromiseRejectedResult).reason as NodeJS.ErrnoException).code, 'ENOSPC');
    await writer.append(line('ok2'));
    writer.close();
    assert.equal(writer.written, 2);
    const third = readFileSync(join(dir, segmentName(3)), 'utf8');
    assert.match(third, /^\{.*"id":"ok2".*\}\n$/);
    for (const name of [segmentName(1), segmentName(3)]) {
      const text = readFileSync(join(dir, name), 'utf8');
      assert.ok(text.endsWith('\n') && !text.includes('"f1"'), name);
    }
  });

  it('appends after close reject', async () => {
    const dir = freshDir();
    const writer = createJournalWriter(dir);
    writer.close();
    await assert.rejects(writer.append(line('late')));
    assert.equal(statSync(join(dir, segmentName(1))).size, 0);
  });
});
