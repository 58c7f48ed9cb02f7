import { TokenmeterError } from '../errors.js';
import type { ResolvedUsageQuery } from './usage-query.js';

/**
 * A custom dimension must be one the configuration defines or one the ledger holds: a typo in a
 * `by` or `where` is bad input (TM_USAGE_ARGS: exit 2 on the CLI, 400 from the API), not an
 * empty column. Returns without reading anything when every name is known.
 */
export function checkCustomDimensionsKnown(
  query: Pick<ResolvedUsageQuery, 'by' | 'where'>,
  known: ReadonlySet<string>,
): void {
  for (const d of [...query.by, ...query.where.map((w) => w.dimension)]) {
    if (d.kind !== 'custom' || known.has(d.name)) continue;
    const custom = known.size > 0 ? `, or a custom dimension (${[...known].sort().join(', ')})` : '';
    throw new TokenmeterError(
      'TM_USAGE_ARGS',
      `unknown dimension "${d.name}": expected api, operation, product, user, subscription, ip, location, gateway, backend, model, responseModel, provider, stream${custom}`,
    );
  }
}

/** Whether the query names a custom dimension outside `known` (then the ledger's names are needed). */
export function namesUnknownCustomDimension(
  query: Pick<ResolvedUsageQuery, 'by' | 'where'>,
  known: ReadonlySet<string>,
): boolean {
  return [...query.by, ...query.where.map((w) => w.dimension)].some(
    (d) => d.kind === 'custom' && !known.has(d.name),
  );
}

/** The custom dimension names a configuration's `tokenMetrics` define. */
export function configuredCustomDimensions(
  tokenMetrics: readonly { dimensions: readonly (string | { name: string })[] }[],
): string[] {
  return tokenMetrics.flatMap((m) => m.dimensions.flatMap((d) => (typeof d === 'string' ? [] : [d.name])));
}
