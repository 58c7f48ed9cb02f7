import { CliInputError } from '../cli/cli-error.js';

/** A calendar month: `year` and `month` (1–12). */
export interface CalendarMonth {
  year: number;
  month: number;
}

/**
 * Parses `--month YYYY-MM`. Throws CliInputError (exit 2) naming the flag.
 *
 * @example
 * parseCalendarMonth('2026-03'); // { year: 2026, month: 3 }
 */
export function parseCalendarMonth(text: string): CalendarMonth {
  const match = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(text.trim());
  if (match === null)
    throw new CliInputError(`invalid --month ${JSON.stringify(text)}: expected YYYY-MM, e.g. 2026-01`);
  return { year: Number(match[1]), month: Number(match[2]) };
}

/** `YYYY-MM` of a calendar month, as users write it. */
export function monthLabel({ year, month }: CalendarMonth): string {
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}`;
}

/**
 * The wall clock of `timeZone` at `instant`, as if it were UTC (epoch ms). `h23` so that
 * midnight reads 00 and never 24.
 */
function wallClock(formatter: Intl.DateTimeFormat, instant: number): number {
  const parts: Record<string, number> = {};
  for (const part of formatter.formatToParts(instant))
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  const { year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0 } = parts;
  return Date.UTC(year, month - 1, day, hour, minute, second);
}

function zoneFormatter(timeZone: string): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
}

/**
 * The instant at which the wall clock of `timeZone` reads local midnight of the given day
 * (epoch ms). The zone's offset is read with Intl at the candidate instant and the candidate
 * corrected until it is stable, so a DST change on either side of midnight is accounted for.
 * Where midnight does not exist (a zone that springs forward at 00:00), the first instant of
 * the day is returned.
 */
export function zonedMidnight(year: number, month: number, day: number, timeZone: string): number {
  const formatter = zoneFormatter(timeZone);
  const target = Date.UTC(year, month - 1, day);
  let instant = target;
  // Two corrections settle every real zone (one for the offset, one for a DST change between
  // the first guess and the answer); a third is a safety margin.
  for (let i = 0; i < 3; i++) {
    const next = target - (wallClock(formatter, instant) - instant);
    if (next === instant) break;
    instant = next;
  }
  // A skipped midnight: the wall clock never read 00:00, so the day began when it jumped.
  while (wallClock(formatter, instant) < target) instant += 15 * 60_000;
  return instant;
}

/** The calendar month `instant` (epoch ms) falls in, on the wall clock of `timeZone`. */
export function calendarMonthOf(instant: number, timeZone: string): CalendarMonth {
  const wall = new Date(wallClock(zoneFormatter(timeZone), instant));
  return { year: wall.getUTCFullYear(), month: wall.getUTCMonth() + 1 };
}

/**
 * The bounds of a month in a zone: [local midnight of day 1, local midnight of the next
 * month's day 1), epoch ms, so `since` is inclusive and `until` exclusive as usage queries take
 * them.
 */
export function monthRange(month: CalendarMonth, timeZone: string): { since: number; until: number } {
  const next =
    month.month === 12 ? { year: month.year + 1, month: 1 } : { year: month.year, month: month.month + 1 };
  return {
    since: zonedMidnight(month.year, month.month, 1, timeZone),
    until: zonedMidnight(next.year, next.month, 1, timeZone),
  };
}

/** The local calendar day (1–31) of `instant` in `timeZone`. */
export function createLocalDayOf(timeZone: string): (instant: number) => number {
  const formatter = new Intl.DateTimeFormat('en-US', { timeZone, day: 'numeric' });
  return (instant) => Number(formatter.format(instant));
}

/** Number of days of a calendar month. */
export function daysInMonth({ year, month }: CalendarMonth): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}
