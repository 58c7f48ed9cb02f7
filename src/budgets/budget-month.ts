/** A calendar month in a time zone, as budgets count it. */
export interface BudgetMonth {
  /** YYYY-MM. */
  month: string;
  /** Epoch ms of the month's first instant (midnight on the 1st in the zone), inclusive. */
  since: number;
  /** Epoch ms of the next month's first instant, exclusive: when a budget resets. */
  until: number;
}

/** The wall-clock fields of `time` in `timeZone`. */
function wallClock(time: number, timeZone: string): { year: number; month: number; utcOfWall: number } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(time);
  const field = (type: Intl.DateTimeFormatPartTypes): number =>
    Number(parts.find((p) => p.type === type)?.value ?? 0);
  const year = field('year');
  const month = field('month');
  const utcOfWall = Date.UTC(year, month - 1, field('day'), field('hour'), field('minute'), field('second'));
  return { year, month, utcOfWall };
}

/** The instant of midnight on the 1st of `month` (1-12, may be 13) of `year` in `timeZone`. */
function monthStart(year: number, month: number, timeZone: string): number {
  const wall = Date.UTC(year, month - 1, 1);
  // The zone's offset at the guess, then once more at the corrected instant: offsets change
  // (daylight saving) but never twice within a few hours of a month's start.
  let instant = wall;
  for (let i = 0; i < 2; i++) {
    const offset = wallClock(instant, timeZone).utcOfWall - Math.floor(instant / 1000) * 1000;
    instant = wall - offset;
  }
  return instant;
}

/**
 * The month `time` (epoch ms) falls in, in the IANA `timeZone` (`reports.timezone`).
 *
 * @example
 * budgetMonthOf(Date.parse('2026-03-31T23:30:00Z'), 'Europe/Berlin').month; // '2026-04'
 */
export function budgetMonthOf(time: number, timeZone: string): BudgetMonth {
  const { year, month } = wallClock(time, timeZone);
  return {
    month: `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}`,
    since: monthStart(year, month, timeZone),
    until: monthStart(year, month + 1, timeZone),
  };
}
