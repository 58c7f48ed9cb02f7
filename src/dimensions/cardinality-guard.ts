/** The value that replaces any value beyond a dimension's limit. */
export const OVERFLOW_VALUE = '__other__';

/** Default number of distinct values per label (and, for client-controlled labels, per subscription). */
export const DEFAULT_MAX_DISTINCT_VALUES = 1000;

/**
 * Labels whose values come from the configuration or the gateway itself (API, operation and
 * product ids, subscription ids, gateway id and location, backend id and type, the stream flag),
 * never from what a client sends: their number of values is bounded by the configuration.
 * Every other label (`model`, `responseModel`, `user`, `ip`, custom dimensions) is
 * client-controlled: a client with a valid key can send any value it likes. The label name
 * decides: a custom dimension may carry one of these names only when its expression is that
 * very dimension (`api.id` for `api`, see config/validate-references.ts).
 */
export const CONFIG_SOURCED_LABELS: ReadonlySet<string> = new Set([
  'api',
  'operation',
  'product',
  'subscription',
  'location',
  'gateway',
  'backend',
  'provider',
  'stream',
]);

/** Options of {@link createCardinalityGuard}. */
export interface CardinalityGuardOptions {
  /**
   * The budget of distinct values: per label for config-sourced labels, per label and
   * subscription for client-controlled ones (default {@link DEFAULT_MAX_DISTINCT_VALUES}).
   */
  maxDistinctValues?: number;
  /** Labels whose values cannot be chosen by a client (default {@link CONFIG_SOURCED_LABELS}). */
  configSourcedLabels?: Iterable<string>;
}

/** Who produced a value and whether the call succeeded: decides whether it may add a new value. */
export interface CallOrigin {
  /** The subscription the call was made with ('' or absent: none). */
  subscription?: string | undefined;
  /**
   * False for a call the backend did not answer with a 2xx status (refused, failed, no
   * answer): such a call may reuse admitted values but never adds one. Default true.
   */
  succeeded?: boolean;
}

/** Bounds the number of distinct values per label (a metric label set must stay bounded). */
export interface CardinalityGuard {
  /**
   * The value to record: `value` itself if admitted (now or before), else `__other__`.
   * See {@link createCardinalityGuard} for the rule.
   */
  admit(name: string, value: string, origin?: CallOrigin): string;
  /** Applies {@link admit} to every entry; returns a new object. */
  admitAll(values: Readonly<Record<string, string>>, origin?: CallOrigin): Record<string, string>;
  /** Values replaced by `__other__` so far, per label name. */
  overflowCounts(): Record<string, number>;
}

/**
 * Creates a guard with its own state (one per metric emitter, like the OpenTelemetry SDK's
 * per-instrument cardinality limit). The rule, with N = `maxDistinctValues` (default 1000):
 *
 * - A value once admitted for a label stays admitted for the life of the guard, whoever sends
 *   it later and whatever the call's status: nothing pushes an established value out.
 * - A config-sourced label ({@link CONFIG_SOURCED_LABELS}) admits its first N distinct values,
 *   from any call; later new values become `__other__`.
 * - A client-controlled label admits a new value only from a successful (2xx) call, and each
 *   subscription has its own budget of N new values for it: the values a subscription was the
 *   first to send count against its budget only. A subscription that has spent its budget gets
 *   `__other__` for its further new values; other subscriptions keep admitting theirs. A call
 *   the backend refused (4xx), failed (5xx) or never answered adds no value at all.
 *
 * So one tenant can neither spend another's budget nor push its values out, and a label holds at
 * most N × (subscriptions + 1) values (the +1 for calls without a subscription).
 *
 * @example
 * const guard = createCardinalityGuard({ maxDistinctValues: 1 });
 * guard.admit('model', 'a', { subscription: 'team-a' }); // 'a'
 * guard.admit('model', 'b', { subscription: 'team-a' }); // '__other__' (team-a's budget is spent)
 * guard.admit('model', 'b', { subscription: 'team-b' }); // 'b' (team-b has its own)
 * guard.admit('model', 'c', { subscription: 'team-c', succeeded: false }); // '__other__'
 * guard.admit('model', 'a', { subscription: 'team-c', succeeded: false }); // 'a' (admitted before)
 */
export function createCardinalityGuard(options: CardinalityGuardOptions = {}): CardinalityGuard {
  const limit = options.maxDistinctValues ?? DEFAULT_MAX_DISTINCT_VALUES;
  if (!Number.isInteger(limit) || limit < 0)
    throw new RangeError('maxDistinctValues must be a non-negative integer');
  const configSourced = new Set(options.configSourcedLabels ?? CONFIG_SOURCED_LABELS);
  /** Admitted values per label. */
  const admitted = new Map<string, Set<string>>();
  /** Per client-controlled label: how many values each subscription was the first to send. */
  const added = new Map<string, Map<string, number>>();
  const overflow = new Map<string, number>();

  function fold(name: string): string {
    overflow.set(name, (overflow.get(name) ?? 0) + 1);
    return OVERFLOW_VALUE;
  }

  function admit(name: string, value: string, origin: CallOrigin = {}): string {
    let values = admitted.get(name);
    if (values === undefined) {
      values = new Set();
      admitted.set(name, values);
    }
    if (values.has(value)) return value;
    if (configSourced.has(name)) {
      if (values.size >= limit) return fold(name);
      values.add(value);
      return value;
    }
    if (origin.succeeded === false) return fold(name);
    let bySubscription = added.get(name);
    if (bySubscription === undefined) {
      bySubscription = new Map();
      added.set(name, bySubscription);
    }
    const subscription = origin.subscription ?? '';
    const spent = bySubscription.get(subscription) ?? 0;
    if (spent >= limit) return fold(name);
    bySubscription.set(subscription, spent + 1);
    values.add(value);
    return value;
  }

  return {
    admit,
    admitAll(values, origin) {
      const out: Record<string, string> = {};
      for (const [name, value] of Object.entries(values)) out[name] = admit(name, value, origin);
      return out;
    },
    overflowCounts() {
      return Object.fromEntries(overflow);
    },
  };
}
