import type { PriceOverrideConfig } from '../config/schema.js';
import type { TokenUsage } from '../usage.js';
import { parsePriceDate } from './price-date.js';

/** An agreed price per million tokens (`pricing.overrides[]`), from `from` (epoch ms) on. */
export interface OverridePrice {
  input: number;
  output: number;
  cachedInput?: number;
  cacheWrite?: number;
  /** When the price takes effect, epoch ms; -Infinity for an entry without `from`. */
  from: number;
}

/** The configured overrides, by model. */
export interface PriceOverrides {
  /**
   * The price in force for `model` at `time` (epoch ms): of the model's entries, the one with
   * the latest `from` not after `time`; undefined when the model has none in force (then the
   * catalog prices it). Model names match exactly.
   */
  priceAt(model: string, time: number): OverridePrice | undefined;
  /** True when some entry names the model, whatever its date. */
  has(model: string): boolean;
}

/**
 * Indexes `pricing.overrides` by model, each model's entries by ascending `from`. The entries
 * are schema-valid (non-negative prices, valid dates); duplicate (model, from) pairs are refused
 * by validateReferences, so at most one entry is in force at any time.
 */
export function createPriceOverrides(overrides: readonly PriceOverrideConfig[]): PriceOverrides {
  const byModel = new Map<string, OverridePrice[]>();
  for (const entry of overrides) {
    const price: OverridePrice = {
      input: entry.input,
      output: entry.output,
      ...(entry.cachedInput !== undefined ? { cachedInput: entry.cachedInput } : {}),
      ...(entry.cacheWrite !== undefined ? { cacheWrite: entry.cacheWrite } : {}),
      from: entry.from === undefined ? -Infinity : (parsePriceDate(entry.from) ?? Infinity),
    };
    const list = byModel.get(entry.model) ?? [];
    list.push(price);
    byModel.set(entry.model, list);
  }
  for (const list of byModel.values()) list.sort((a, b) => a.from - b.from);
  return {
    has: (model) => byModel.has(model),
    priceAt(model, time) {
      const list = byModel.get(model);
      if (list === undefined) return undefined;
      let inForce: OverridePrice | undefined;
      for (const price of list) if (price.from <= time) inForce = price;
      return inForce;
    },
  };
}

/**
 * The cost of a usage at an override price: cached and cache-written input at their own rates
 * (the input rate when the override has none), the rest of the prompt at the input rate, all
 * output (reasoning included) at the output rate. Cached and cache-written tokens are part of
 * the prompt tokens, so they are taken out of it, never counted twice. Undefined when no prompt
 * tokens were reported, or when the cache counts exceed the prompt (a usage that cannot be).
 */
export function overrideCost(price: OverridePrice, usage: TokenUsage): number | undefined {
  if (usage.promptTokens === undefined) return undefined;
  const cached = usage.cachedTokens ?? 0;
  const written = usage.cacheWriteTokens ?? 0;
  const uncached = usage.promptTokens - cached - written;
  if (uncached < 0) return undefined;
  const perMillion =
    uncached * price.input +
    cached * (price.cachedInput ?? price.input) +
    written * (price.cacheWrite ?? price.input) +
    (usage.completionTokens ?? 0) * price.output;
  return perMillion / 1_000_000;
}
