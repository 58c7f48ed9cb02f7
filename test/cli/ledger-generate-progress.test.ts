import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createProgressBar, formatDuration } from '../../src/cli/progress-bar.js';

/** A stream that keeps what is written; `isTTY` as a terminal or a pipe would say. */
function capture(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, columns: 100, write: (text: string) => chunks.push(text) } };
}

test('off a terminal: one line per 10 % done, then the summary', () => {
  const { chunks, stream } = capture(false);
  let clock = 0;
  const bar = createProgressBar({ label: 'records', total: 1000, stream, now: () => clock });
  for (let done = 1; done <= 1000; done++) {
    clock += 1; // 1,000 per second
    bar.update(done);
  }
  bar.finish('done: 1,000 records');
  assert.equal(chunks.length, 11);
  assert.equal(chunks[0], 'records: 100/1,000 10.0% 1,000/s ETA 1s\n');
  assert.match(chunks[9] ?? '', /^records: 1,000\/1,000 100% 1,000\/s ETA 0s\n$/);
  assert.equal(chunks[10], 'done: 1,000 records\n');
  assert.ok(chunks.every((c) => !c.includes('\r')));
});

test('a big jump writes one line, not one per step skipped', () => {
  const { chunks, stream } = capture(false);
  const bar = createProgressBar({ label: 'x', total: 100, stream, now: () => 0 });
  bar.update(55);
  bar.update(56);
  bar.update(60);
  assert.equal(chunks.length, 2);
  assert.match(chunks[1] ?? '', /^x: 60\/100 /);
});

test('on a terminal: the bar is redrawn in place at most ~10 times a second, and ended', () => {
  const { chunks, stream } = capture(true);
  let clock = 0;
  const bar = createProgressBar({ label: 'rollups', total: 10_000, stream, now: () => clock });
  for (let done = 1; done <= 10_000; done++) {
    clock += 0.1; // one second in all
    bar.update(done);
  }
  const draws = chunks.filter((c) => c.startsWith('\r\x1b[2K'));
  assert.ok(draws.length >= 9 && draws.length <= 12, `${draws.length} redraws`);
  assert.match(draws.at(-1) ?? '', /rollups \[#+\] 10,000\/10,000 100% /);
  bar.finish('built');
  assert.deepEqual(chunks.slice(-2), ['\n', 'built\n']);
  bar.update(5);
  bar.finish('again');
  assert.equal(chunks.at(-1), 'built\n', 'nothing after finish');
});

test('durations read as seconds, minutes or hours', () => {
  assert.equal(formatDuration(42.4), '42s');
  assert.equal(formatDuration(185), '3m05s');
  assert.equal(formatDuration(3720), '1h02m');
  assert.equal(formatDuration(Number.POSITIVE_INFINITY), '?');
});
