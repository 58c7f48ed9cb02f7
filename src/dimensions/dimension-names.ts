import { DEFAULT_DIMENSION_KEYS, type DefaultDimensionKey } from '../ledger/record.js';

/**
 * Azure API Management's default dimension names, accepted as aliases of our canonical keys so
 * that an APIM `emit-token-metric` policy, workbook or habit carries over unchanged
 * (DESIGN.md, "Canonical dimension keys"). Matching is case-insensitive: APIM's own docs spell
 * "IP address" and "IP Address" both ways.
 */
export const APIM_DIMENSION_ALIASES: Readonly<Record<string, DefaultDimensionKey>> = Object.freeze({
  'API ID': 'api',
  'Operation ID': 'operation',
  'Product ID': 'product',
  'User ID': 'user',
  'Subscription ID': 'subscription',
  'IP Address': 'ip',
  Location: 'location',
  'Gateway ID': 'gateway',
});

// Lower-cased lookup built once: canonical keys and APIM aliases share one namespace, and a
// lower-case key space means `--by Model` or `--by "ip address"` still find the dimension.
const LOOKUP: ReadonlyMap<string, DefaultDimensionKey> = new Map<string, DefaultDimensionKey>([
  ...DEFAULT_DIMENSION_KEYS.map((key): [string, DefaultDimensionKey] => [key.toLowerCase(), key]),
  ...Object.entries(APIM_DIMENSION_ALIASES).map(([alias, key]): [string, DefaultDimensionKey] => [
    alias.toLowerCase(),
    key,
  ]),
]);

/**
 * Maps a dimension name as a user writes it (a canonical key such as `responseModel`, or an APIM
 * name such as `Subscription ID`) to its canonical key, case-insensitively and ignoring
 * surrounding blanks. Returns undefined for anything else, i.e. a custom dimension name.
 *
 * @example
 * canonicalDimensionKey('API ID');        // 'api'
 * canonicalDimensionKey('responsemodel'); // 'responseModel'
 * canonicalDimensionKey('appId');         // undefined (custom)
 */
export function canonicalDimensionKey(name: string): DefaultDimensionKey | undefined {
  return LOOKUP.get(name.trim().toLowerCase());
}
