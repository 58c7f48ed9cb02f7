import { calendarMonthOf, monthLabel, monthRange } from '../reports/month-range.js';

/** A calendar month in a time zone, as budgets count it. */
export interface BudgetMonth {
  /** YYYY-MM. */
  month: string;
  /** Epoch ms of the month's first instant (midnight on the 1st in the zone), inclusive. */
  since: number;
  /** Epoch ms of the next month's first instant, exclusive: when a budget resets. */
  until: number;
}

/**
 * The month `time` (epoch ms) falls in, in the IANA `timeZone` (`reports.timezone`): the same
 * month `report --month` counts (reports/month-range.ts).
 *
 * @example
 * budgetMonthOf(Date.parse('2026-03-31T23:30:00Z'), 'Europe/Berlin').month; // '2026-04'
 */
export function budgetMonthOf(time: number, timeZone: string): BudgetMonth {
  const month = calendarMonthOf(time, timeZone);
  return { month: monthLabel(month), ...monthRange(month, timeZone) };
}
