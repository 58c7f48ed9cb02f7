import type { Counter } from 'prom-client';

/**
 * What was counted into one Prometheus series since the last scrape. Calls only add to
 * `pending`; prom-client (which validates and hashes labels on every `inc`) is told once per
 * series and scrape, in the counter's `collect`.
 */
export interface Cell {
  readonly labels: Readonly<Record<string, string>>;
  pending: number;
}

/** Hands the pending counts of `cells` to `counter`; runs before each exposition. */
export function flushCells(counter: Counter, cells: Iterable<Cell>): void {
  for (const cell of cells) {
    if (cell.pending === 0) continue;
    counter.inc(cell.labels, cell.pending);
    cell.pending = 0;
  }
}

/** The cells of one combination of dimension values. */
export interface Series {
  tokens(tokenType: string): Cell;
  request(statusClass: string, source: string): Cell;
  /** The cost counter's cell (USD), when the store has one. */
  cost(): Cell | undefined;
}

interface StoredSeries extends Series {
  readonly key: string;
  readonly values: readonly string[];
  seenAt: number;
  readonly cells: Map<string, { cell: Cell; counter: Counter }>;
}

/** Options of {@link createSeriesStore}. */
export interface SeriesStoreOptions {
  /** The emitter's dimension labels, in order. */
  labelNames: readonly string[];
  tokens: Counter;
  requests: Counter;
  /** `<namespace>_cost_total`, when the emitter exposes cost. */
  cost?: Counter;
  /** A series not used for this long is removed (the emitter's cardinality window), ms. */
  windowMs: number;
}

/**
 * The Prometheus series of one emitter and their pending counts. A series is removed, from this
 * store and from prom-client (`counter.remove`), when one of its label values leaves the
 * cardinality guard ({@link SeriesStore.releaseValue}) or when it has not been used for the
 * window ({@link SeriesStore.sweep}): memory and the scrape follow what the guard holds.
 * Last-used times are kept like the guard's (refreshed at most once per window/60), so a used
 * series costs one Map lookup and one comparison.
 */
export interface SeriesStore {
  /** The series of a combination, created on first use. */
  get(values: readonly string[], now: number): Series;
  /** Removes every series whose label at `index` has `value`. */
  releaseValue(index: number, value: string): void;
  /** Removes the series not used for the window. */
  sweep(now: number): void;
  /** Series held now. */
  readonly size: number;
  /** The cells of the tokens and requests counters (for their `collect`). */
  readonly tokenCells: ReadonlySet<Cell>;
  readonly requestCells: ReadonlySet<Cell>;
  readonly costCells: ReadonlySet<Cell>;
}

/** Creates the series store of one emitter. */
export function createSeriesStore(options: SeriesStoreOptions): SeriesStore {
  const { labelNames, tokens, requests, cost } = options;
  const refreshAfter = options.windowMs / 60;
  const removeAfter = options.windowMs + refreshAfter;
  /** Least recently used first (a refresh re-inserts). */
  const series = new Map<string, StoredSeries>();
  /** Per label position: the series holding each value. */
  const byValue = labelNames.map(() => new Map<string, Set<StoredSeries>>());
  const tokenCells = new Set<Cell>();
  const requestCells = new Set<Cell>();
  const costCells = new Set<Cell>();
  const cellsOf = (counter: Counter): Set<Cell> =>
    counter === tokens ? tokenCells : counter === requests ? requestCells : costCells;
  let nextSweepAt = Infinity;

  function remove(s: StoredSeries): void {
    series.delete(s.key);
    s.values.forEach((value, i) => {
      const holding = byValue[i]?.get(value);
      holding?.delete(s);
      if (holding?.size === 0) byValue[i]?.delete(value);
    });
    for (const { cell, counter } of s.cells.values()) {
      counter.remove(cell.labels);
      cellsOf(counter).delete(cell);
    }
  }

  function create(key: string, values: readonly string[], now: number): StoredSeries {
    const labels: Record<string, string> = {};
    labelNames.forEach((name, i) => (labels[name] = values[i] ?? ''));
    const cells = new Map<string, { cell: Cell; counter: Counter }>();
    const cellFor = (k: string, counter: Counter, extra: Record<string, string>): Cell => {
      let entry = cells.get(k);
      if (entry === undefined) {
        entry = { cell: { labels: { ...labels, ...extra }, pending: 0 }, counter };
        cells.set(k, entry);
        cellsOf(counter).add(entry.cell);
      }
      return entry.cell;
    };
    const created: StoredSeries = {
      key,
      values: [...values],
      seenAt: now,
      cells,
      tokens: (tokenType) => cellFor(tokenType, tokens, { token_type: tokenType }),
      request: (statusClass, source) =>
        cellFor(`${statusClass}/${source}`, requests, { status_class: statusClass, usage_source: source }),
      cost: () => (cost === undefined ? undefined : cellFor('cost', cost, {})),
    };
    series.set(key, created);
    values.forEach((value, i) => {
      const index = byValue[i];
      if (index === undefined) return;
      let holding = index.get(value);
      if (holding === undefined) {
        holding = new Set();
        index.set(value, holding);
      }
      holding.add(created);
    });
    if (nextSweepAt === Infinity) nextSweepAt = now + removeAfter;
    return created;
  }

  function sweep(now: number): void {
    if (now < nextSweepAt) return;
    for (const s of series.values()) {
      if (now - s.seenAt < removeAfter) {
        nextSweepAt = s.seenAt + removeAfter;
        return;
      }
      remove(s);
    }
    nextSweepAt = Infinity;
  }

  return {
    tokenCells,
    requestCells,
    costCells,
    get size() {
      return series.size;
    },
    get(values, now) {
      sweep(now);
      const key = values.join('\u0000');
      const found = series.get(key);
      if (found === undefined) return create(key, values, now);
      if (now - found.seenAt >= refreshAfter) {
        found.seenAt = now;
        series.delete(key);
        series.set(key, found);
      }
      return found;
    },
    releaseValue(index, value) {
      const holding = byValue[index]?.get(value);
      if (holding === undefined) return;
      for (const s of [...holding]) remove(s);
    },
    sweep,
  };
}
