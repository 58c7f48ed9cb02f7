import { TokenmeterError } from '../errors.js';
import type { ReportGrouping } from './chargeback-report.js';
import { resolveUsageQuery } from './usage-query.js';

/**
 * A report's `by`: `costCenter` / `owner` (properties of the subscription), else one dimension as
 * `usage --by` takes it. Shared by `tokenmeter report --by` and `GET /api/report?by=`. Throws
 * TokenmeterError TM_USAGE_ARGS (exit 2 on the CLI, 400 from the API).
 */
export function parseGrouping(text: string): ReportGrouping {
  const name = text.trim();
  const lower = name.toLowerCase().replaceAll(' ', '');
  if (lower === 'costcenter') return { kind: 'property', property: 'costCenter', key: 'costCenter' };
  if (lower === 'owner') return { kind: 'property', property: 'owner', key: 'owner' };
  if (name === '' || name.includes(','))
    throw new TokenmeterError(
      'TM_USAGE_ARGS',
      `invalid --by ${JSON.stringify(text)}: expected one dimension, costCenter or owner`,
    );
  const [dimension] = resolveUsageQuery({ by: [name], where: [] }).by;
  if (dimension === undefined)
    throw new TokenmeterError('TM_USAGE_ARGS', `invalid --by ${JSON.stringify(text)}`);
  return { kind: 'dimension', name, key: dimension.output };
}
