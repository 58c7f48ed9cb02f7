import { Counter, type Registry } from 'prom-client';
import { JwtRejectedError } from '../auth/jwt-rejection.js';
import type { TokenmeterError } from '../errors.js';

/** Counts the calls the gateway answered itself, before forwarding, by API and error code. */
export interface RefusalCounter {
  /** `api` is '' when no API is served at the path. */
  count(api: string, err: TokenmeterError): void;
}

/**
 * `tokenmeter_calls_refused_total{api, code}`: every call refused before forwarding (unknown or
 * revoked key, bad JWT, bad path or body, ledger unavailable, …), so a flood of bad keys or
 * tokens shows on a dashboard although such calls leave no usage record. JWT refusals are also
 * counted by the check that failed in `tokenmeter_jwt_rejected_total{api, check}`. Both label
 * sets are bounded: API ids come from the configuration, codes and checks from catalogues.
 */
export function createRefusalCounter(registry: Registry): RefusalCounter {
  const refused = new Counter({
    name: 'tokenmeter_calls_refused_total',
    help: 'Calls the gateway refused before forwarding (neither forwarded nor billed), by API and error code.',
    labelNames: ['api', 'code'],
    registers: [registry],
  });
  const jwt = new Counter({
    name: 'tokenmeter_jwt_rejected_total',
    help: 'Calls refused because their JWT failed a check, by API and check.',
    labelNames: ['api', 'check'],
    registers: [registry],
  });
  return {
    count(api, err) {
      refused.inc({ api, code: err.code });
      if (err instanceof JwtRejectedError) jwt.inc({ api, check: err.check });
    },
  };
}
