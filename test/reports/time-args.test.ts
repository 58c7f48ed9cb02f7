import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CliInputError } from '../../src/cli/cli-error.js';
import {
  parseDuration,
  parseInterval,
  parseIsoDate,
  parseSince,
  parseTimeArgs,
  parseUntil,
} from '../../src/reports/time-args.js';

const NOW = Date.UTC(2025, 5, 30, 12, 0);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** CliInputError whose message is one line naming the option and the bad text. */
function cliError(option: string, text: string) {
  return (err: unknown): boolean =>
    err instanceof CliInputError &&
    err.exitCode === 2 &&
    !err.message.includes('\n') &&
    err.message.includes(option) &&
    err.message.includes(JSON.stringify(text));
}

describe('usage time arguments', () => {
  it('parses durations in minutes, hours and days', () => {
    assert.equal(parseDuration('90m'), 90 * 60_000);
    assert.equal(parseDuration('12h'), 12 * HOUR);
    assert.equal(parseDuration('30d'), 30 * DAY);
    for (const bad of ['0d', '1w', '1.5h', 'h', '-1d', '1 d', '', '1dd'])
      assert.equal(parseDuration(bad), undefined, bad);
  });

  it('parses ISO dates strictly, as UTC without an offset', () => {
    assert.equal(parseIsoDate('2025-01-31'), Date.UTC(2025, 0, 31));
    assert.equal(parseIsoDate('2025-01-31T10:20'), Date.UTC(2025, 0, 31, 10, 20));
    assert.equal(parseIsoDate('2025-01-31T10:20:30.5Z'), Date.UTC(2025, 0, 31, 10, 20, 30, 500));
    assert.equal(parseIsoDate('2025-01-31T10:20:30+02:00'), Date.UTC(2025, 0, 31, 8, 20, 30));
    assert.equal(parseIsoDate('2025-01-31T10:20:30-0130'), Date.UTC(2025, 0, 31, 11, 50, 30));
    for (const bad of [
      '2025-02-30',
      '2025-13-01',
      '2025-01-01T24:00',
      '2025-1-1',
      'March 7',
      'yesterday',
      '1700000000000',
    ])
      assert.equal(parseIsoDate(bad), undefined, bad);
  });

  it('defaults --since to 30 days ago and reads a duration as "before now"', () => {
    assert.equal(parseSince(undefined, NOW), NOW - 30 * DAY);
    assert.equal(parseSince('12h', NOW), NOW - 12 * HOUR);
    assert.equal(parseSince('2025-06-01', NOW), Date.UTC(2025, 5, 1));
    assert.equal(parseUntil(undefined, NOW), undefined);
    assert.equal(parseUntil('2025-06-02T00:00Z', NOW), Date.UTC(2025, 5, 2));
  });

  it('parses --interval', () => {
    assert.equal(parseInterval(undefined), undefined);
    assert.equal(parseInterval('15m'), 15 * 60_000);
    assert.equal(parseInterval('1h'), HOUR);
    assert.equal(parseInterval('1d'), DAY);
  });

  it('refuses bad values with one clear CliInputError line', () => {
    assert.throws(() => parseSince('abc', NOW), cliError('--since', 'abc'));
    assert.throws(() => parseSince('2025-02-30', NOW), cliError('--since', '2025-02-30'));
    assert.throws(() => parseUntil('tomorrow', NOW), cliError('--until', 'tomorrow'));
    assert.throws(() => parseInterval('1w'), cliError('--interval', '1w'));
    assert.throws(() => parseInterval('2025-01-01'), cliError('--interval', '2025-01-01'));
    assert.throws(
      () => parseTimeArgs({ since: '2025-06-02', until: '2025-06-01' }, NOW),
      (err: unknown) => err instanceof CliInputError && /--since .* must be before --until/.test(err.message),
    );
  });

  it('combines the options, leaving absent ones out', () => {
    assert.deepEqual(parseTimeArgs({}, NOW), { since: NOW - 30 * DAY });
    assert.deepEqual(parseTimeArgs({ since: '1d', until: '1h', interval: '1h' }, NOW), {
      since: NOW - DAY,
      until: NOW - HOUR,
      interval: HOUR,
    });
  });
});
