import {
  calcPrice,
  type ModelPrice,
  type PriceCalculationResult,
  type Provider,
} from '@pydantic/genai-prices';
import type { TokenDetails, TokenUsage } from '../usage.js';
import { createLruMap } from '../lru-map.js';

/**
 * Longest model name that is priced, in characters. The catalog's longest model id has about
 * 60; a catalog match costs time in proportion to the name (about 1.5 ms at 300 characters,
 * 1.7 s at 2 MB, measured), so a longer name is never looked up nor memoised: it has no price.
 */
export const MAX_PRICED_MODEL_CHARS = 256;

/** Default number of (provider, model) matches the catalog memoises (least recently used go). */
export const DEFAULT_PRICE_MEMO_ENTRIES = 1000;

/** Prices a call from the @pydantic/genai-prices catalog (no hand-written price table). */
export interface PriceCatalog {
  /**
   * Cost in USD, or undefined when the model's price is unknown, no tokens were reported or the
   * model name is longer than {@link MAX_PRICED_MODEL_CHARS}. `providerId` is the catalog's
   * provider id (see catalogProviderOf); undefined looks the model up by name across the
   * catalog's providers. `time` (epoch ms, default now) picks the catalog price in force then.
   * `details` (audio / image parts of the counts) are priced at the model's own rates for them
   * where the catalog has such rates, at the text rates otherwise (see catalogUsageOf).
   */
  costOf(
    providerId: string | undefined,
    model: string | undefined,
    usage: TokenUsage,
    time?: number,
    details?: TokenDetails,
  ): number | undefined;
  /** True when the catalog has a price for the model (same lookup as costOf). */
  knows(providerId: string | undefined, model: string): boolean;
  /** Matches memoised now (at most the catalog's `maxMemoEntries`). */
  readonly memoSize: number;
}

/** Options of {@link createPriceCatalog}. */
export interface PriceCatalogOptions {
  /** Matches memoised at most (default {@link DEFAULT_PRICE_MEMO_ENTRIES}). */
  maxMemoEntries?: number;
}

/**
 * The providers a model is looked up in when the backend names none (a simulator, an
 * OpenAI-compatible server), after the catalog's own detection by name pattern (which knows
 * `gpt-*` and `claude-*` but not, e.g., `text-embedding-3-small`). Only the providers that own
 * the models they list: a host's price for an open model (Groq's Llama) is not the model's.
 */
const MODEL_OWNERS = [
  'openai',
  'anthropic',
  'google',
  'mistral',
  'deepseek',
  'x-ai',
  'cohere',
  'voyageai',
  'moonshotai',
  'zhipuai',
  'minimax',
] as const;

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
  input_audio_tokens?: number;
  cache_audio_read_tokens?: number;
  input_image_tokens?: number;
  cache_image_read_tokens?: number;
  output_audio_tokens?: number;
};

/**
 * The catalog's usage for a call. genai-prices nests its units: `input_audio_tokens` and
 * `input_image_tokens` are parts of `input_tokens`, `cache_audio_read_tokens` of both
 * `cache_read_tokens` and the audio input, `output_audio_tokens` of `output_tokens` — the same
 * meaning as TokenDetails' parts of TokenUsage, so each maps one to one, and the catalog prices
 * each part at its own rate (`input_audio_mtok`, …) or, where the model has none, at the
 * enclosing rate. Only positive details that fit inside their count are passed (a record's
 * details are screened when read, this keeps the catalog from refusing a call for a stray one):
 * any that does not fit and the call is priced as text, as it would be without details.
 */
export function catalogUsageOf(
  usage: TokenUsage & { promptTokens: number },
  details?: TokenDetails,
): CatalogUsage {
  const out: CatalogUsage = {
    input_tokens: usage.promptTokens,
    output_tokens: usage.completionTokens ?? 0,
    ...(usage.cachedTokens !== undefined ? { cache_read_tokens: usage.cachedTokens } : {}),
    ...(usage.cacheWriteTokens !== undefined ? { cache_write_tokens: usage.cacheWriteTokens } : {}),
  };
  if (details === undefined) return out;
  const part = (n: number | undefined): number =>
    n !== undefined && Number.isSafeInteger(n) && n > 0 ? n : 0;
  const audioIn = part(details.audioPromptTokens);
  const imageIn = part(details.imagePromptTokens);
  const cachedAudio = part(details.cachedAudioTokens);
  const audioOut = part(details.audioCompletionTokens);
  const fits =
    audioIn + imageIn <= out.input_tokens &&
    cachedAudio <= Math.min(audioIn, out.cache_read_tokens ?? 0) &&
    audioOut <= out.output_tokens;
  if (!fits) return out;
  // With cached tokens, the catalog wants to know how many of them are audio (image): it
  // refuses a call that leaves the overlap unsaid. Cached tokens the provider did not break
  // down (chat reports no cached audio, no provider reports cached images) are cached text.
  const cacheRead = (out.cache_read_tokens ?? 0) > 0;
  if (audioIn > 0) {
    out.input_audio_tokens = audioIn;
    if (cacheRead) out.cache_audio_read_tokens = cachedAudio;
  }
  if (imageIn > 0) {
    out.input_image_tokens = imageIn;
    if (cacheRead) out.cache_image_read_tokens = 0;
  }
  if (audioOut > 0) out.output_audio_tokens = audioOut;
  return out;
}

/** Whether the usage has parts the flat text rates do not price (then the catalog prices it). */
function hasModalities(usage: CatalogUsage): boolean {
  return (
    usage.input_audio_tokens !== undefined ||
    usage.input_image_tokens !== undefined ||
    usage.output_audio_tokens !== undefined ||
    usage.cache_audio_read_tokens !== undefined
  );
}

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
 * The catalog's match for a model: under the given provider, else by the catalog's own
 * detection from the name, else in each of {@link MODEL_OWNERS} in turn.
 */
function matchInCatalog(
  usage: CatalogUsage,
  model: string,
  providerId: string | undefined,
  timestamp: Date,
): PriceCalculationResult {
  if (providerId !== undefined) return calcPrice(usage, model, { providerId, timestamp });
  const detected = calcPrice(usage, model, { timestamp });
  if (detected !== null) return detected;
  for (const owner of MODEL_OWNERS) {
    const found = calcPrice(usage, model, { providerId: owner, timestamp });
    if (found !== null) return found;
  }
  return null;
}

/**
 * A catalog with a per-model memo: a full catalog match scans every model's patterns (~0.1 ms),
 * too slow to repeat on every call, so the match is kept per (provider, model). Flat prices are
 * then applied directly; tiered or time-conditional prices go through the catalog each time.
 * The memo is a least-recently-used map of at most `maxMemoEntries`, and names longer than
 * {@link MAX_PRICED_MODEL_CHARS} never reach it: a client sending ever new (or huge) model
 * names costs at most one bounded catalog scan per call and no memory.
 */
export function createPriceCatalog(options: PriceCatalogOptions = {}): PriceCatalog {
  const maxEntries = options.maxMemoEntries ?? DEFAULT_PRICE_MEMO_ENTRIES;
  if (!Number.isInteger(maxEntries) || maxEntries < 1)
    throw new RangeError('maxMemoEntries must be a positive integer');
  const memo = createLruMap<MatchedModel | null>(maxEntries);
  const costOf: PriceCatalog['costOf'] = (providerId, model, usage, time, details) => {
    const { promptTokens } = usage;
    if (model === undefined || model === '' || promptTokens === undefined) return undefined;
    if (model.length > MAX_PRICED_MODEL_CHARS) return undefined;
    const catalogUsage = catalogUsageOf({ ...usage, promptTokens }, details);
    const timestamp = new Date(time ?? Date.now());
    const key = `${providerId ?? ''}\u0000${model}`;
    try {
      let matched = memo.get(key);
      if (matched === undefined) {
        const full = matchInCatalog(catalogUsage, model, providerId, timestamp);
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
      // Audio and image parts have their own rates: the catalog's own calculation prices them.
      const fast =
        matched.flat !== undefined && !hasModalities(catalogUsage)
          ? flatCost(matched.flat, catalogUsage)
          : undefined;
      return fast ?? calcPrice(catalogUsage, model, { provider: matched.provider, timestamp })?.total_price;
    } catch {
      // A usage the catalog rejects (e.g. cache counts above the input) has no price.
      return undefined;
    }
  };
  return {
    get memoSize() {
      return memo.size;
    },
    costOf,
    knows: (providerId, model) => costOf(providerId, model, { promptTokens: 0 }) !== undefined,
  };
}
