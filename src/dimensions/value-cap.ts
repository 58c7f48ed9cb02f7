import type { DefaultDimensions } from '../ledger/record.js';

/**
 * Longest value a metric label carries, in characters (UTF-16 code units, as JavaScript counts
 * them). Every emitter (Prometheus today, OTLP and Azure Monitor later) caps label values with
 * {@link capLabelValue}: a client-chosen `model` or `user` of megabytes must not reach an
 * exposition, a series key or a metrics backend.
 */
export const MAX_LABEL_VALUE_CHARS = 128;

/**
 * Longest dimension value the ledger keeps, in characters (UTF-16 code units). Longer values are
 * cut with {@link capLedgerValue} and the record is flagged `dimension_truncated`.
 */
export const MAX_LEDGER_VALUE_CHARS = 1024;

/** Characters of the marker besides the count: `…[+` and ` chars]`. */
const MARKER_FIXED_CHARS = '…[+ chars]'.length;

/**
 * `value` if it has at most `max` characters; otherwise its beginning followed by the marker
 * `…[+N chars]`, where N is the number of characters cut, so that the result has exactly `max`
 * characters (one fewer when the cut would split a surrogate pair: the result stays valid
 * UTF-16, hence valid UTF-8 on the wire). The same input always gives the same output, so a cut
 * value still groups with itself in metrics and reports.
 *
 * @example
 * capValue('m'.repeat(300), 128); // 'm'.repeat(115) + '…[+185 chars]' (128 characters)
 */
export function capValue(value: string, max: number): string {
  if (value.length <= max) return value;
  // The kept length depends on the count's digits, which depend on the kept length: try each
  // digit count (at most 16 for any JavaScript string) until the two agree.
  let keep = 0;
  for (let digits = 1; digits <= 16; digits++) {
    keep = max - MARKER_FIXED_CHARS - digits;
    if (keep <= 0) return value.slice(0, keepWhole(value, max));
    if (String(value.length - keep).length === digits) break;
  }
  keep = keepWhole(value, keep);
  return `${value.slice(0, keep)}…[+${value.length - keep} chars]`;
}

/** `end` moved back by one when it would cut a surrogate pair in half. */
function keepWhole(value: string, end: number): number {
  const code = value.charCodeAt(end - 1);
  return code >= 0xd800 && code <= 0xdbff ? end - 1 : end;
}

/** A label value as every metric emitter must write it: at most {@link MAX_LABEL_VALUE_CHARS}. */
export function capLabelValue(value: string): string {
  return capValue(value, MAX_LABEL_VALUE_CHARS);
}

/** A dimension value as the ledger keeps it: at most {@link MAX_LEDGER_VALUE_CHARS}. */
export function capLedgerValue(value: string): string {
  return capValue(value, MAX_LEDGER_VALUE_CHARS);
}

/**
 * Caps every string dimension of a call (default and custom) to what the ledger keeps.
 * `truncated` says whether any value was cut (the record then carries `dimension_truncated`).
 */
export function capLedgerDimensions<D extends Partial<DefaultDimensions>>(
  dimensions: D,
  custom: Readonly<Record<string, string>>,
): { dimensions: D; custom: Record<string, string>; truncated: boolean } {
  let truncated = false;
  const cap = (value: string): string => {
    const capped = capLedgerValue(value);
    if (capped !== value) truncated = true;
    return capped;
  };
  const cappedDimensions = { ...dimensions };
  for (const [key, value] of Object.entries(cappedDimensions)) {
    if (typeof value === 'string') (cappedDimensions as Record<string, unknown>)[key] = cap(value);
  }
  const cappedCustom: Record<string, string> = {};
  for (const [name, value] of Object.entries(custom)) cappedCustom[name] = cap(value);
  return { dimensions: cappedDimensions, custom: cappedCustom, truncated };
}
