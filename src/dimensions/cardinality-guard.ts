/** The value that replaces any value beyond a dimension's limit. */
export const OVERFLOW_VALUE = '__other__';

/** Default number of distinct values kept per dimension name. */
export const DEFAULT_MAX_DISTINCT_VALUES = 1000;

/** Options of {@link createCardinalityGuard}. */
export interface CardinalityGuardOptions {
  /** Distinct values kept per dimension name; later new values become `__other__`. */
  maxDistinctValues?: number;
}

/** Caps the number of distinct values per dimension (a metric label set must stay bounded). */
export interface CardinalityGuard {
  /** The value to record: `value` itself if already seen or still under the limit, else `__other__`. */
  admit(name: string, value: string): string;
  /** Applies {@link admit} to every entry; returns a new object. */
  admitAll(values: Readonly<Record<string, string>>): Record<string, string>;
  /** Values replaced by `__other__` so far, per dimension name. */
  overflowCounts(): Record<string, number>;
}

/**
 * Creates a guard with its own state (one per metric emitter, like the OpenTelemetry SDK's
 * per-instrument cardinality limit). The first N distinct values of a dimension are kept for
 * the life of the guard; the ones after are folded into `__other__`, so a runaway header or
 * claim cannot blow up a metrics backend.
 *
 * @example
 * const guard = createCardinalityGuard({ maxDistinctValues: 2 });
 * guard.admit('team', 'a'); guard.admit('team', 'b'); guard.admit('team', 'c'); // '__other__'
 */
export function createCardinalityGuard(options: CardinalityGuardOptions = {}): CardinalityGuard {
  const limit = options.maxDistinctValues ?? DEFAULT_MAX_DISTINCT_VALUES;
  if (!Number.isInteger(limit) || limit < 0)
    throw new RangeError('maxDistinctValues must be a non-negative integer');
  const seen = new Map<string, Set<string>>();
  const overflow = new Map<string, number>();

  function admit(name: string, value: string): string {
    let values = seen.get(name);
    if (values === undefined) {
      values = new Set();
      seen.set(name, values);
    }
    if (values.has(value)) return value;
    if (values.size < limit) {
      values.add(value);
      return value;
    }
    overflow.set(name, (overflow.get(name) ?? 0) + 1);
    return OVERFLOW_VALUE;
  }

  return {
    admit,
    admitAll(values) {
      const out: Record<string, string> = {};
      for (const [name, value] of Object.entries(values)) out[name] = admit(name, value);
      return out;
    },
    overflowCounts() {
      return Object.fromEntries(overflow);
    },
  };
}
