/** The value that replaces any value beyond a dimension's limit. */
export const OVERFLOW_VALUE = '__other__';

/** Default number of distinct values a label holds within the window (`maxValuesPerDimension`). */
export const DEFAULT_MAX_DISTINCT_VALUES = 1000;

/** Default rolling window over which distinct values are counted (`cardinalityWindow`): 1 h. */
export const DEFAULT_CARDINALITY_WINDOW_MS = 3_600_000;

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

/**
 * How finely a value's last-seen time is kept, as a fraction of the window: a value seen again
 * is moved to the tail of its label's recency order at most once per window/60 (1 min for 1 h),
 * so almost every call costs one Map lookup and one comparison.
 */
const REFRESH_FRACTION = 60;

/** Options of {@link createCardinalityGuard}. */
export interface CardinalityGuardOptions {
  /** Distinct values a label holds within the window (default {@link DEFAULT_MAX_DISTINCT_VALUES}). */
  maxDistinctValues?: number;
  /** The rolling window, milliseconds (default {@link DEFAULT_CARDINALITY_WINDOW_MS}). */
  windowMs?: number;
  /** A monotonic clock in milliseconds (default `performance.now`); tests inject their own. */
  clock?: () => number;
  /** Labels whose values cannot be chosen by a client (default {@link CONFIG_SOURCED_LABELS}). */
  configSourcedLabels?: Iterable<string>;
  /**
   * Told of every value that leaves the guard (unseen for the window, or its slot given to
   * another subscription), so the emitter can drop the series that carry it.
   */
  onRelease?: (name: string, value: string) => void;
}

/** Who produced a value and whether the call succeeded: decides whether it may add a new value. */
export interface CallOrigin {
  /** The subscription the call was made with ('' or absent: none). */
  subscription?: string | undefined;
  /**
   * False for a call the backend did not answer with a 2xx status (refused, failed, no
   * answer): such a call may reuse held values but never adds a client-controlled one. Default true.
   */
  succeeded?: boolean;
  /** The guard's clock for this call, read once by the caller for all its labels (absent: read now). */
  at?: number;
}

/** Bounds the number of distinct values per label over a rolling window. */
export interface CardinalityGuard {
  /**
   * The value to record: `value` itself if held (now or before), else `__other__`.
   * See {@link createCardinalityGuard} for the rule.
   */
  admit(name: string, value: string, origin?: CallOrigin): string;
  /** Applies {@link admit} to every entry; returns a new object. */
  admitAll(values: Readonly<Record<string, string>>, origin?: CallOrigin): Record<string, string>;
  /** Releases every value not seen for the window (also done lazily by {@link admit}). */
  sweep(now?: number): void;
  /** Values replaced by `__other__` so far, per label name. */
  overflowCounts(): Record<string, number>;
  /** Values held now, per label name. */
  heldCounts(): Record<string, number>;
  /** The clock the guard reads (to read it once per call and pass it as `origin.at`). */
  readonly clock: () => number;
}

/** A held value: when it was last seen (coarsely) and which subscription's share it counts in. */
interface Slot {
  seenAt: number;
  /** The subscription that added it (client-controlled labels only). */
  holder: Holder | undefined;
}

/** The values one subscription added to a client-controlled label, least recently seen first. */
interface Holder {
  id: string;
  values: Map<string, Slot>;
}

interface LabelState {
  name: string;
  clientControlled: boolean;
  /** Held values, least recently seen first (Map keeps insertion order; a refresh re-inserts). */
  slots: Map<string, Slot>;
  holders: Map<string, Holder>;
  /** When the head of `slots` may be due for release: a sweep before then finds nothing. */
  nextSweepAt: number;
  overflow: number;
}

/**
 * Creates a guard with its own state (one per metric emitter, like the OpenTelemetry SDK's
 * per-instrument cardinality limit). With N = `maxDistinctValues` and W = `windowMs`:
 *
 * - A label holds at most N distinct values. A value not seen for W is released (between W
 *   and W + W/60 after it was last seen) and frees its slot; `onRelease` is told.
 * - A held value is returned as it is to every call, whoever sends it and whatever the status.
 * - Config-sourced labels ({@link CONFIG_SOURCED_LABELS}) take a new value from any call while
 *   a slot is free; beyond, `__other__`.
 * - Client-controlled labels take a new value only from a successful (2xx) call. While a slot is
 *   free any subscription takes it. When the label is full, a subscription holding fewer than
 *   its fair share, ⌊N / k⌋ (k: subscriptions holding values of the label, itself included),
 *   takes the slot of the least recently seen value of the subscription holding the most; any
 *   other new value becomes `__other__`. So one tenant flooding a label can fill it, but never
 *   keeps another's new values out: each keeps getting in up to its fair share.
 *
 * Cost per call: one Map lookup and a comparison for a held value (a Map re-insert at most once
 * per W/60 per value); releases happen from the head of the recency order, O(1) each.
 *
 * @example
 * const guard = createCardinalityGuard({ maxDistinctValues: 2 });
 * guard.admit('user', 'a1', { subscription: 'team-a' }); // 'a1'
 * guard.admit('user', 'a2', { subscription: 'team-a' }); // 'a2' (the label is full now)
 * guard.admit('user', 'a3', { subscription: 'team-a' }); // '__other__'
 * guard.admit('user', 'b1', { subscription: 'team-b' }); // 'b1' (a1, team-a's oldest, is released)
 * guard.admit('user', 'b2', { subscription: 'team-b', succeeded: false }); // '__other__'
 */
export function createCardinalityGuard(options: CardinalityGuardOptions = {}): CardinalityGuard {
  const limit = options.maxDistinctValues ?? DEFAULT_MAX_DISTINCT_VALUES;
  if (!Number.isInteger(limit) || limit < 0)
    throw new RangeError('maxDistinctValues must be a non-negative integer');
  const window = options.windowMs ?? DEFAULT_CARDINALITY_WINDOW_MS;
  if (!Number.isFinite(window) || window <= 0) throw new RangeError('windowMs must be a positive number');
  const refreshAfter = window / REFRESH_FRACTION;
  // A value last refreshed at seenAt was last seen before seenAt + refreshAfter: it is released
  // once that moment is a whole window ago, never earlier.
  const releaseAfter = window + refreshAfter;
  const clock = options.clock ?? (() => performance.now());
  const configSourced = new Set(options.configSourcedLabels ?? CONFIG_SOURCED_LABELS);
  const onRelease = options.onRelease;
  const labels = new Map<string, LabelState>();

  function stateOf(name: string): LabelState {
    let state = labels.get(name);
    if (state === undefined) {
      state = {
        name,
        clientControlled: !configSourced.has(name),
        slots: new Map(),
        holders: new Map(),
        nextSweepAt: Infinity,
        overflow: 0,
      };
      labels.set(name, state);
    }
    return state;
  }

  function release(state: LabelState, value: string, slot: Slot): void {
    state.slots.delete(value);
    const holder = slot.holder;
    if (holder !== undefined) {
      holder.values.delete(value);
      if (holder.values.size === 0) state.holders.delete(holder.id);
    }
    onRelease?.(state.name, value);
  }

  function sweepLabel(state: LabelState, now: number): void {
    // Deleting the entry being visited is safe while iterating a Map.
    for (const [value, slot] of state.slots) {
      if (now - slot.seenAt < releaseAfter) {
        state.nextSweepAt = slot.seenAt + releaseAfter;
        return;
      }
      release(state, value, slot);
    }
    state.nextSweepAt = Infinity;
  }

  function hold(state: LabelState, value: string, holder: Holder | undefined, now: number): string {
    const slot: Slot = { seenAt: now, holder };
    state.slots.set(value, slot);
    holder?.values.set(value, slot);
    if (state.nextSweepAt === Infinity) state.nextSweepAt = now + releaseAfter;
    return value;
  }

  function fold(state: LabelState): string {
    state.overflow += 1;
    return OVERFLOW_VALUE;
  }

  /** The holder with the most values (the first of equals), or undefined when there is none. */
  function largestHolder(state: LabelState): Holder | undefined {
    let largest: Holder | undefined;
    for (const holder of state.holders.values())
      if (largest === undefined || holder.values.size > largest.values.size) largest = holder;
    return largest;
  }

  function admit(name: string, value: string, origin: CallOrigin = {}): string {
    const state = stateOf(name);
    const now = origin.at ?? clock();
    if (now >= state.nextSweepAt) sweepLabel(state, now);
    const slot = state.slots.get(value);
    if (slot !== undefined) {
      if (now - slot.seenAt >= refreshAfter) {
        // Move to the tail: the recency order stays sorted by seenAt, so releases read the head.
        slot.seenAt = now;
        state.slots.delete(value);
        state.slots.set(value, slot);
        slot.holder?.values.delete(value);
        slot.holder?.values.set(value, slot);
      }
      return value;
    }
    if (!state.clientControlled)
      return state.slots.size < limit ? hold(state, value, undefined, now) : fold(state);
    if (origin.succeeded === false) return fold(state);
    const id = origin.subscription ?? '';
    let holder = state.holders.get(id);
    const held = holder?.values.size ?? 0;
    if (state.slots.size >= limit) {
      const sharing = state.holders.size + (holder === undefined ? 1 : 0);
      if (held >= Math.floor(limit / sharing)) return fold(state);
      const victim = largestHolder(state);
      // Only a holder above this one's count gives a slot up, so two never trade slots back and forth.
      if (victim === undefined || victim.values.size <= held + 1) return fold(state);
      const oldest = victim.values.entries().next().value;
      if (oldest === undefined) return fold(state);
      release(state, oldest[0], oldest[1]);
    }
    if (holder === undefined) {
      holder = { id, values: new Map() };
      state.holders.set(id, holder);
    }
    return hold(state, value, holder, now);
  }

  return {
    admit,
    clock,
    admitAll(values, origin = {}) {
      const at = origin.at ?? clock();
      const out: Record<string, string> = {};
      for (const [name, value] of Object.entries(values)) out[name] = admit(name, value, { ...origin, at });
      return out;
    },
    sweep(now = clock()) {
      for (const state of labels.values()) if (now >= state.nextSweepAt) sweepLabel(state, now);
    },
    overflowCounts() {
      const out: Record<string, number> = {};
      for (const state of labels.values()) if (state.overflow > 0) out[state.name] = state.overflow;
      return out;
    },
    heldCounts() {
      const out: Record<string, number> = {};
      for (const state of labels.values()) out[state.name] = state.slots.size;
      return out;
    },
  };
}
