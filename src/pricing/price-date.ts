/** `YYYY-MM-DD` (midnight UTC), or an ISO date-time with its offset (`2026-01-01T08:00:00+01:00`). */
const PRICE_DATE = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/**
 * The instant a price's `from` names, epoch ms, or undefined when it is not a valid ISO date
 * (a date alone is midnight UTC; a date-time must carry its offset, so it never depends on the
 * host's time zone). Calendar dates are checked: `2026-02-30` is refused, not rolled over.
 */
export function parsePriceDate(text: string): number | undefined {
  if (!PRICE_DATE.test(text)) return undefined;
  const time = Date.parse(text.length === 10 ? `${text}T00:00:00Z` : text);
  if (!Number.isFinite(time)) return undefined;
  // Date.parse rolls 2026-02-30 over to March: the date part must come back unchanged.
  const day = new Date(time + (text.length === 10 ? 0 : offsetMs(text))).toISOString().slice(0, 10);
  return day === text.slice(0, 10) ? time : undefined;
}

/** The offset a date-time carries, ms east of UTC. */
function offsetMs(text: string): number {
  const match = /([+-])(\d{2}):(\d{2})$/.exec(text);
  if (match === null) return 0;
  const minutes = Number(match[2]) * 60 + Number(match[3]);
  return (match[1] === '-' ? -1 : 1) * minutes * 60_000;
}
