import {
  PRICED_FILTER,
  resolveUsageQuery,
  type DimensionValue,
  type ResolvedDimension,
  type UsageFilter,
  type UsageQuery,
} from '../reports/usage-query.js';

/** Who is looking: the admin key sees every subscription, a subscription key only its own. */
export type Viewer = { role: 'admin' } | { role: 'subscription'; subscription: string };

/** How a resolved dimension is named so that it resolves to the same one again. */
function canonicalName(d: ResolvedDimension): string {
  return d.kind === 'default' ? d.key : `custom.${d.name}`;
}

function filterText(value: DimensionValue): string {
  return value === null ? '' : String(value);
}

/**
 * The query a viewer may run: unchanged for the admin; for a subscription, its filters once
 * resolved (APIM aliases, `custom.` names, repeated conditions merged) rewritten canonically,
 * every condition on the subscription dimension replaced by one "subscription = own". A filter
 * of the viewer's that names only other subscriptions selects nothing: undefined then (answer
 * empty, run nothing). Appending a condition instead would be wrong: conditions on one
 * dimension are OR-ed, so `where=subscription:other` plus the scope would read "other or own".
 * Throws TokenmeterError TM_USAGE_ARGS as resolveUsageQuery.
 */
export function scopeQuery<Q extends Omit<UsageQuery, 'by' | 'interval'>>(
  query: Q,
  viewer: Viewer,
): Q | undefined {
  if (viewer.role === 'admin') return query;
  const resolved = resolveUsageQuery({ by: [], where: query.where });
  const where: UsageFilter[] = [];
  for (const filter of resolved.where) {
    const isSubscription = filter.dimension.kind === 'default' && filter.dimension.key === 'subscription';
    if (isSubscription) {
      if (!filter.values.includes(viewer.subscription)) return undefined;
      continue;
    }
    for (const value of filter.values)
      where.push({ dim: canonicalName(filter.dimension), value: filterText(value) });
  }
  if (resolved.priced !== undefined) where.push({ dim: PRICED_FILTER, value: String(resolved.priced) });
  where.push({ dim: 'subscription', value: viewer.subscription });
  return { ...query, where };
}
