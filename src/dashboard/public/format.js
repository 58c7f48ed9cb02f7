// format.js: number, money, percentage and date formatting shared by the chart, table and summary.
// Everything is shown in UTC: the API buckets by UTC day and hour.

const INTEGER = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const COMPACT = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

/** 1234567 → "1,234,567". */
export function formatInteger(n) {
  return INTEGER.format(n);
}

/** 1234567 → "1.2M", for axis ticks. */
export function formatCompact(n) {
  return COMPACT.format(n);
}

/** A cost in `currency` (ISO 4217), or an em dash when unknown (null: no record had a price). */
export function formatMoney(value, currency) {
  if (value === null || value === undefined) return '—';
  return new Intl.NumberFormat('en-US', { style: 'currency', currency, maximumFractionDigits: 2 }).format(
    value,
  );
}

/** A fraction 0..1 → "2.1 %"; 0 → "0 %". */
export function formatPercent(fraction) {
  if (!Number.isFinite(fraction) || fraction === 0) return '0 %';
  const pct = fraction * 100;
  return `${pct < 0.1 ? pct.toFixed(2) : pct.toFixed(1)} %`;
}

/** Epoch ms → "2026-11-03" (UTC). */
export function formatDay(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Epoch ms → "2026-11-03 14:00 UTC" or the day alone for daily buckets. */
export function formatBucket(ms, hourly) {
  const iso = new Date(ms).toISOString();
  return hourly ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : iso.slice(0, 10);
}

/** A dimension value as shown to people: null (absent) → "(none)". */
export function formatGroup(value) {
  return value === null || value === undefined ? '(none)' : String(value);
}
