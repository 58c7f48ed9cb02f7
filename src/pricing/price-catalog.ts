import { calcPrice, type ModelPrice, type Provider } from '@pydantic/genai-prices';
import type { TokenUsage } from '../usage.js';

/** Prices a call from the @pydantic/genai-prices catalog (no hand-written price table). */
export interface PriceCatalog {
  /** Cost in USD, or undefined when the model's price is unknown or no tokens were reported. */
  costOf(providerType: string, model: string | undefined, usage: TokenUsage): number | undefined;
}

// The catalog's provider ids for our backend types; other types (simulator, OpenAI-compatible
// servers) match on the model name alone.
const CATALOG_PROVIDER: Readonly<Record<string, string>> = {
  openai: 'openai',
  'azure-openai': 'azure',
  anthropic: 'anthropic',
  gemini: 'google',
};

interface MatchedModel {
  /** The catalog provider reduced to the one matched model. */
  provider: Provider;
  /** The model's flat per-million-token prices, when they are plain numbers (no tiers, no conditions). */
  flat?: ModelPrice;
}

type CatalogUsage = {
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens?: number;
  cache_write_tokens?: number;
};

/**
 * Flat-rate pricing, the catalog's own rule for untiered prices: cached and cache-written input
 * at their rates, the rest of the input at the input rate, output at the output rate. Returns
 * undefined whenever a rate needed is not a plain number, so the catalog decides instead.
 */
function flatCost(price: ModelPrice, usage: CatalogUsage): number | undefined {
  const rate = (key: string, tokens: number | undefined): number | undefined => {
    if (tokens === undefined || tokens === 0) return 0;
    const value = price[key];
    return typeof value === 'number' ? (value * tokens) / 1_000_000 : undefined;
  };
  const read = usage.cache_read_tokens ?? 0;
  const write = usage.cache_write_tokens ?? 0;
  const parts = [
    rate('input_mtok', usage.input_tokens - read - write),
    rate('cache_read_mtok', read),
    rate('cache_write_mtok', write),
    rate('output_mtok', usage.output_tokens),
  ];
  if (parts.some((p) => p === undefined) || usage.input_tokens < read + write) return undefined;
  return (parts as number[]).reduce((a, b) => a + b, 0);
}

function flatPrices(model: Provider['models'][number]): ModelPrice | undefined {
  if (Array.isArray(model.prices)) return undefined;
  return Object.values(model.prices).every((v) => v === undefined || typeof v === 'number')
    ? model.prices
    : undefined;
}

/**
 * A catalog with a per-model memo: a full catalog match scans every model's patterns (~0.1 ms),
 * too slow to repeat on every call, so the match is kept per (provider, model). Flat prices are
 * then applied directly; tiered or time-conditional prices go through the catalog each time.
 */
export function createPriceCatalog(): PriceCatalog {
  const memo = new Map<string, MatchedModel | null>();
  return {
    costOf(providerType, model, usage) {
      if (model === undefined || model === '' || usage.promptTokens === undefined) return undefined;
      const catalogUsage: CatalogUsage = {
        input_tokens: usage.promptTokens,
        output_tokens: usage.completionTokens ?? 0,
        ...(usage.cachedTokens !== undefined ? { cache_read_tokens: usage.cachedTokens } : {}),
        ...(usage.cacheWriteTokens !== undefined ? { cache_write_tokens: usage.cacheWriteTokens } : {}),
      };
      const providerId = CATALOG_PROVIDER[providerType];
      const key = `${providerId ?? ''}\u0000${model}`;
      try {
        let matched = memo.get(key);
        if (matched === undefined) {
          const full = calcPrice(catalogUsage, model, providerId !== undefined ? { providerId } : {});
          const flat = full === null ? undefined : flatPrices(full.model);
          matched =
            full === null
              ? null
              : {
                  provider: { ...full.provider, models: [full.model] },
                  ...(flat !== undefined ? { flat } : {}),
                };
          memo.set(key, matched);
          return full?.total_price;
        }
        if (matched === null) return undefined;
        const fast = matched.flat !== undefined ? flatCost(matched.flat, catalogUsage) : undefined;
        return fast ?? calcPrice(catalogUsage, model, { provider: matched.provider })?.total_price;
      } catch {
        // A usage the catalog rejects (e.g. cache counts above the input) has no price.
        return undefined;
      }
    },
  };
}
