// view-state.js: the view in the address's #fragment (range, interval, metric, group, filters), so
// that a reload keeps it and a link shows a colleague the same picture. A fragment is user input:
// it is read defensively and anything unknown falls back to the page's default.

const DAY_TEXT = /^\d{4}-\d\d-\d\d$/;

/** The fragment (without "#") for a view { preset, since, until, interval, metric, by, filters }. */
export function writeViewState(view) {
  const params = new URLSearchParams();
  params.set('range', view.preset);
  if (view.preset === 'custom') {
    params.set('from', new Date(view.since).toISOString().slice(0, 10));
    params.set('to', new Date(view.until - 1).toISOString().slice(0, 10));
  }
  params.set('interval', view.interval);
  params.set('metric', view.metric);
  params.set('by', view.by);
  for (const filter of view.filters) params.append('where', `${filter.dim}:${filter.value}`);
  return params.toString();
}

/**
 * The valid parts of a fragment: { preset, from, to, interval, metric, by, filters }, each present
 * only when the fragment names a known value (`known` = { presets, metrics, dimensions }: arrays
 * of allowed values).
 */
export function readViewState(hash, known) {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const view = {};
  const range = params.get('range');
  if (range && known.presets.includes(range)) {
    const from = params.get('from') ?? '';
    const to = params.get('to') ?? '';
    if (range !== 'custom') view.preset = range;
    else if (DAY_TEXT.test(from) && DAY_TEXT.test(to)) Object.assign(view, { preset: range, from, to });
  }
  const interval = params.get('interval');
  if (interval === '1h' || interval === '1d') view.interval = interval;
  const metric = params.get('metric');
  if (metric && known.metrics.includes(metric)) view.metric = metric;
  const by = params.get('by');
  if (by && known.dimensions.includes(by)) view.by = by;
  const filters = params
    .getAll('where')
    .slice(0, 50)
    .map((where) => ({ dim: where.slice(0, where.indexOf(':')), value: where.slice(where.indexOf(':') + 1) }))
    .filter((filter) => known.dimensions.includes(filter.dim));
  if (filters.length > 0) view.filters = filters;
  return view;
}
