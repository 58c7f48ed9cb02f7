// range.js: the date range presets and custom dates, all in UTC.
// A range is [since, until) in epoch ms. Day presets cover whole UTC days (today included), so
// that daily bars are never cut in half; "24 h" covers the last 24 whole hours plus this hour.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Preset values of the range select, in display order. */
export const RANGE_PRESETS = Object.freeze([
  { value: '24h', label: 'Last 24 hours' },
  { value: '7d', label: 'Last 7 days' },
  { value: '30d', label: 'Last 30 days' },
  { value: 'this-month', label: 'This month' },
  { value: 'last-month', label: 'Last month' },
  { value: 'custom', label: 'Custom dates' },
]);

function startOfUtcDay(ms) {
  return Math.floor(ms / DAY) * DAY;
}

/** The [since, until) of a preset at `now` (epoch ms), or null for "custom". */
export function presetRange(preset, now) {
  const today = startOfUtcDay(now);
  const date = new Date(now);
  switch (preset) {
    case '24h': {
      const hour = Math.floor(now / HOUR) * HOUR;
      return { since: hour - 23 * HOUR, until: hour + HOUR };
    }
    case '7d':
      return { since: today - 6 * DAY, until: today + DAY };
    case '30d':
      return { since: today - 29 * DAY, until: today + DAY };
    case 'this-month':
      return {
        since: Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1),
        until: Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1),
      };
    case 'last-month':
      return {
        since: Date.UTC(date.getUTCFullYear(), date.getUTCMonth() - 1, 1),
        until: Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1),
      };
    default:
      return null;
  }
}

/**
 * The range of two `<input type=date>` values ("YYYY-MM-DD", UTC days, both included), or an
 * error message naming what is wrong.
 */
export function customRange(fromText, toText) {
  const since = Date.parse(`${fromText}T00:00:00Z`);
  const last = Date.parse(`${toText}T00:00:00Z`);
  if (!Number.isFinite(since)) return { error: 'Choose a start date.' };
  if (!Number.isFinite(last)) return { error: 'Choose an end date.' };
  if (last < since) return { error: 'The end date is before the start date.' };
  return { since, until: last + DAY };
}

/** The bucket width in ms of an interval switch value ("1h" | "1d"). */
export function intervalMs(interval) {
  return interval === '1h' ? HOUR : DAY;
}

/** Every bucket start in [since, until), aligned to the epoch (as the API aligns them). */
export function bucketStarts(since, until, interval) {
  const step = intervalMs(interval);
  const starts = [];
  for (let t = Math.floor(since / step) * step; t < until; t += step) starts.push(t);
  return starts;
}
