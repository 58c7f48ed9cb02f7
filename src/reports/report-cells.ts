import type { ChargebackReport } from './chargeback-report.js';

const INTEGER = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const MONEY = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 6 });

/** A money cell for people: `-` when unknown (unpriced is not free). */
export function showMoney(value: number | null): string {
  return value === null ? '-' : MONEY.format(value);
}

/** A count cell for people, with thousands separators. */
export function showCount(value: number): string {
  return INTEGER.format(value);
}

/** The count columns of md and html, in order, with their headers. */
export const COUNT_COLUMNS = [
  ['requests', 'requests'],
  ['promptTokens', 'prompt'],
  ['completionTokens', 'completion'],
  ['cachedTokens', 'cached'],
  ['cacheWriteTokens', 'cache write'],
  ['reasoningTokens', 'reasoning'],
  ['totalTokens', 'total tokens'],
  ['unpricedTokens', 'unpriced tokens'],
] as const;

/** The models that occur in any row, sorted by code unit (the same order on every machine). */
export function modelsOf(report: ChargebackReport): string[] {
  return Object.keys(report.total.costByModel).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
