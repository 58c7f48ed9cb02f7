import type { ConfigPath } from '../config/interpolate.js';
import type { Config } from '../config/schema.js';
import { CATALOG_CURRENCY } from './call-pricer.js';
import { catalogProviderOf } from './catalog-provider.js';
import { createPriceOverrides } from './price-overrides.js';
import type { PriceCatalog } from './price-catalog.js';

/** A pricing problem worth saying that does not stop the gateway (`config check` prints it). */
export interface PricingWarning {
  path: ConfigPath;
  message: string;
}

/**
 * Configured `deployments` whose model has no price: neither the catalog (under the backend's
 * provider, USD only) nor an override knows it, so every call to the deployment would be
 * unpriced. An override with a future `from` counts as a price: it is the one the user set.
 */
export function describePricingWarnings(config: Config, catalog: PriceCatalog): PricingWarning[] {
  const overrides = createPriceOverrides(config.pricing.overrides);
  const useCatalog = config.pricing.currency === CATALOG_CURRENCY;
  const warnings: PricingWarning[] = [];
  config.backends.forEach((backend, index) => {
    for (const [deployment, model] of Object.entries(backend.deployments)) {
      if (overrides.has(model)) continue;
      if (useCatalog && catalog.knows(catalogProviderOf(backend), model)) continue;
      warnings.push({
        path: ['backends', index, 'deployments', deployment],
        message: useCatalog
          ? `model "${model}" is not in the price catalog and has no pricing.overrides entry: its calls will be unpriced`
          : `model "${model}" has no pricing.overrides entry (pricing.currency ${config.pricing.currency} uses no catalog price): its calls will be unpriced`,
      });
    }
  });
  return warnings;
}
