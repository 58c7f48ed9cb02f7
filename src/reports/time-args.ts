import { CliInputError } from '../cli/cli-error.js';
import { parseDuration } from '../config/duration.js';

export { parseDuration };

/** The look-back of `tokenmeter usage` without `--since`. */
export const DEFAULT_SINCE = '30d';

// Dates are ISO 8601 only: Date.parse alone also takes "March 7" and silently rolls 2025-02-30
// over to March 2nd, so components are parsed here and checked after conversion.
const ISO_DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * Parses an ISO 8601 date or date-time to epoch ms; undefined when it is not one or names a day
 * that does not exist. Without an offset the time is read as UTC, like a bare date and like the
 * ISO times tokenmeter prints.
 */
export function parseIsoDate(text: string): number | undefined {
  const match = ISO_DATE.exec(text.trim());
  if (match === null) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '0', zone = 'Z'] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const utc = Date.UTC(year, month - 1, day, Number(h), Number(mi), Number(s), Number(frac.padEnd(3, '0')));
  const check = new Date(utc);
  const valid =
    check.getUTCFullYear() === year &&
    check.getUTCMonth() === month - 1 &&
    check.getUTCDate() === day &&
    Number(h) < 24 &&
    Number(mi) < 60 &&
    Number(s) < 60;
  if (!valid) return undefined;
  if (zone.toUpperCase() === 'Z') return utc;
  const offset = /^([+-])(\d{2}):?(\d{2})$/.exec(zone);
  if (offset === null) return undefined;
  const [, sign, oh, om] = offset;
  const minutes = Number(oh) * 60 + Number(om);
  return utc - (sign === '-' ? -1 : 1) * minutes * 60_000;
}

/** Reads a point in time: an ISO date, or a duration meaning "that long before now". */
function parsePointInTime(option: string, text: string, now: number): number {
  const duration = parseDuration(text);
  if (duration !== undefined) return now - duration;
  const date = parseIsoDate(text);
  if (date !== undefined) return date;
  throw new CliInputError(
    `invalid ${option} ${JSON.stringify(text)}: expected a duration like 30d, 12h, 90m or an ISO date like 2025-01-31 or 2025-01-31T12:00Z`,
  );
}

/** `--since 30d|12h|90m|ISO` → epoch ms (inclusive). Defaults to 30 days before `now`. */
export function parseSince(text: string | undefined, now: number): number {
  return parsePointInTime('--since', text ?? DEFAULT_SINCE, now);
}

/** `--until ISO` (or a duration before now) → epoch ms (exclusive); undefined = up to now and beyond. */
export function parseUntil(text: string | undefined, now: number): number | undefined {
  return text === undefined ? undefined : parsePointInTime('--until', text, now);
}

/** `--interval 15m|1h|1d` → bucket width in ms; undefined when not given. */
export function parseInterval(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined) {
    throw new CliInputError(
      `invalid --interval ${JSON.stringify(text)}: expected a duration like 15m, 1h or 1d`,
    );
  }
  return ms;
}

/**
 * Parses the time options of a usage command together, so that an empty window is refused
 * with one clear line instead of printing nothing.
 */
export function parseTimeArgs(
  args: { since?: string | undefined; until?: string | undefined; interval?: string | undefined },
  now: number,
): { since: number; until?: number; interval?: number } {
  const since = parseSince(args.since, now);
  const until = parseUntil(args.until, now);
  const interval = parseInterval(args.interval);
  if (until !== undefined && since >= until) {
    throw new CliInputError(
      `invalid time window: --since (${new Date(since).toISOString()}) must be before --until (${new Date(until).toISOString()})`,
    );
  }
  return { since, ...(until !== undefined && { until }), ...(interval !== undefined && { interval }) };
}
