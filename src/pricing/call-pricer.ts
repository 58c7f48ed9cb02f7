import type { Config } from '../config/schema.js';
import type { TokenDetails, TokenUsage } from '../usage.js';
import { catalogProviderOf } from './catalog-provider.js';
import { createPriceCatalog, type PriceCatalog } from './price-catalog.js';
import { createPriceOverrides, overrideCost } from './price-overrides.js';

/** The catalog's currency: with another `pricing.currency`, only overrides price a call. */
export const CATALOG_CURRENCY = 'USD';

/** What pricing needs to know of a call (a record's fields, or a call being metered). */
export interface PricedCall {
  /** The id of the backend that served the call. */
  backend?: string | undefined;
  subscription?: string | undefined;
  /** The model the client asked for (an Azure deployment name, for Azure). */
  model?: string | undefined;
  /** The model the provider says answered. */
  responseModel?: string | undefined;
  /** When the call was made, epoch ms: prices in force then apply. */
  time: number;
  usage: TokenUsage;
  /**
   * How the counts divide by modality (audio, image), when the provider said so: the catalog
   * prices those parts at the model's own rates. Price overrides have no such rates and price
   * the counts alone.
   */
  tokenDetails?: TokenDetails | undefined;
}

/** Prices calls by the configuration's rules (README, "Prices"). */
export interface CallPricer {
  /**
   * The call's cost in `pricing.currency`, multiplier applied, or undefined when its model has
   * no price (an unpriced call, never a silent 0) or no tokens were reported.
   */
  costOf(call: PricedCall): number | undefined;
  /** The names a call's model is priced under, in the order they are tried. */
  modelNames(call: Pick<PricedCall, 'backend' | 'model' | 'responseModel'>): string[];
}

/**
 * Builds the pricer of a configuration. Lookup: the names are the answering model, then the
 * asked-for model (through the backend's `deployments` when it maps it); the first name with an
 * override in force at the call's time is priced by it, else the first name the catalog prices
 * (under the backend's catalog provider, see catalogProviderOf). The subscription's multiplier
 * then applies. Never throws.
 */
export function createCallPricer(
  config: Pick<Config, 'backends' | 'pricing'>,
  catalog: PriceCatalog = createPriceCatalog(),
): CallPricer {
  const overrides = createPriceOverrides(config.pricing.overrides);
  const backends = new Map(config.backends.map((b) => [b.id, b]));
  const useCatalog = config.pricing.currency === CATALOG_CURRENCY;

  const modelNames: CallPricer['modelNames'] = (call) => {
    const deployments = call.backend === undefined ? undefined : backends.get(call.backend)?.deployments;
    const asked = call.model === undefined ? undefined : (deployments?.[call.model] ?? call.model);
    const names = [call.responseModel, asked].filter((n): n is string => n !== undefined && n !== '');
    return [...new Set(names)];
  };

  const baseCost = (call: PricedCall): number | undefined => {
    const names = modelNames(call);
    for (const name of names) {
      const price = overrides.priceAt(name, call.time);
      if (price !== undefined) return overrideCost(price, call.usage);
    }
    if (!useCatalog) return undefined;
    const backend = call.backend === undefined ? undefined : backends.get(call.backend);
    // A backend no longer configured (a record repriced later): look the model up by name.
    const providerId = backend === undefined ? undefined : catalogProviderOf(backend);
    for (const name of names) {
      const cost = catalog.costOf(providerId, name, call.usage, call.time, call.tokenDetails);
      if (cost !== undefined) return cost;
    }
    return undefined;
  };

  return {
    modelNames,
    costOf(call) {
      const cost = baseCost(call);
      if (cost === undefined) return undefined;
      const multiplier =
        call.subscription === undefined
          ? undefined
          : config.pricing.subscriptions[call.subscription]?.multiplier;
      return multiplier === undefined ? cost : cost * multiplier;
    },
  };
}
