import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';

/** How often a failing custom dimension is logged at most: once per this many ms (1 minute). */
export const DIMENSION_ERROR_LOG_INTERVAL_MS = 60_000;

/** Reports custom dimension expressions that fail at run time (DimensionEvaluator's `onError`). */
export type DimensionErrorReporter = (dimension: string, err: unknown) => void;

/**
 * Counts every run-time failure of a custom dimension expression in
 * `tokenmeter_dimension_errors_total{dimension}` and logs it (pino `warn`) at most once per
 * `intervalMs` per dimension; the next line says how many failures went unlogged since.
 * A line holds the dimension's name and cel-js's error code (`int_conversion_error`,
 * `division_by_zero`, …), never the error message or any value: a message can quote the value
 * it could not convert, and that value may come from a header holding a credential.
 * The call itself never fails: the dimension takes its default (DimensionEvaluator).
 *
 * @param now the clock, in ms (tests pass their own)
 */
export function createDimensionErrorReporter(
  registry: Registry,
  log: Logger,
  options: { intervalMs?: number; now?: () => number } = {},
): DimensionErrorReporter {
  const intervalMs = options.intervalMs ?? DIMENSION_ERROR_LOG_INTERVAL_MS;
  const now = options.now ?? Date.now;
  const errors = new Counter({
    name: 'tokenmeter_dimension_errors_total',
    help: 'Custom dimension expressions that failed at run time (the default was used; the call went on).',
    labelNames: ['dimension'],
    registers: [registry],
  });
  // Per dimension: when it was last logged, and failures since that were not. The names are
  // the configured dimensions, so the map is bounded by the configuration.
  const logged = new Map<string, { at: number; unlogged: number }>();
  return (dimension, err) => {
    errors.inc({ dimension });
    const at = now();
    const last = logged.get(dimension);
    if (last !== undefined && at - last.at < intervalMs) {
      last.unlogged += 1;
      return;
    }
    const code = (err as { code?: unknown } | null)?.code;
    log.warn(
      {
        dimension,
        code: typeof code === 'string' ? code : 'unknown',
        unloggedSinceLast: last?.unlogged ?? 0,
      },
      'custom dimension expression failed at run time; its default was used',
    );
    logged.set(dimension, { at, unlogged: 0 });
  };
}
