// record-share.js: the line that says how trustworthy the counts are: how many requests the range
// holds and which share of them is `estimated` (the gateway counted, the provider sent no usage),
// `partial` (a stream cut short) or without a price.

import { formatInteger, formatPercent } from './format.js';

/** "1,958 requests, 1.9 % estimated, 0.5 % partial" for /api/usage rows (any grouping). */
export function describeRecordShare(rows) {
  const sum = (key) => rows.reduce((total, row) => total + row[key], 0);
  const requests = sum('requests');
  const share = (n) => formatPercent(requests ? n / requests : 0);
  const parts = [
    `${formatInteger(requests)} requests`,
    `${share(sum('estimatedRequests'))} estimated`,
    `${share(sum('partialRequests'))} partial`,
  ];
  const unpriced = sum('unpricedRequests');
  if (unpriced > 0) parts.push(`${share(unpriced)} without a price`);
  return parts.join(', ');
}
