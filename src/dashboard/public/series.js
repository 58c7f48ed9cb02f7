// series.js: turns /api/usage rows (with `time`) into chart series, and stacks them.
// Pure functions, no DOM: the test hook exposes their output as the chart's data.

import { formatGroup } from './format.js';
import { bucketStarts } from './range.js';

/** The metrics of the metric switch: row key → label. */
export const METRICS = Object.freeze([
  { key: 'totalTokens', label: 'Total tokens' },
  { key: 'promptTokens', label: 'Prompt tokens' },
  { key: 'completionTokens', label: 'Completion tokens' },
  { key: 'cachedTokens', label: 'Cached tokens' },
  { key: 'reasoningTokens', label: 'Reasoning tokens' },
  { key: 'cost', label: 'Cost' },
]);

/**
 * Series of `metric` per value of dimension `by`, one point per bucket of [since, until)
 * (buckets without records are 0; a null cost counts 0). Series are ordered largest total first,
 * so the biggest consumer sits at the bottom of the stack.
 * Returns { labels, times (epoch seconds), values: { label: number[] } }.
 */
export function buildSeries(rows, { by, metric, since, until, interval }) {
  // Buckets the range arithmetic did not predict are kept rather than dropped (never lose tokens).
  const starts = [
    ...new Set([...bucketStarts(since, until, interval), ...rows.map((row) => Date.parse(row.time))]),
  ];
  starts.sort((a, b) => a - b);
  const index = new Map(starts.map((t, i) => [t, i]));
  const values = new Map();
  for (const row of rows) {
    const i = index.get(Date.parse(row.time));
    const label = formatGroup(row[by]);
    let series = values.get(label);
    if (!series) {
      series = new Array(starts.length).fill(0);
      values.set(label, series);
    }
    series[i] += Number(row[metric] ?? 0);
  }
  const totals = new Map([...values].map(([label, series]) => [label, series.reduce((a, b) => a + b, 0)]));
  const labels = [...values.keys()].sort((a, b) => totals.get(b) - totals.get(a) || a.localeCompare(b));
  return {
    labels,
    times: starts.map((t) => t / 1000),
    values: Object.fromEntries(labels.map((label) => [label, values.get(label)])),
  };
}

/**
 * Cumulative sums of the visible series, bottom first: stacked[k][i] = sum of visible series
 * 0..k at bucket i. uPlot draws each one and fills the band down to the one below it.
 */
export function stackSeries(data, visibleLabels) {
  const running = new Array(data.times.length).fill(0);
  return visibleLabels.map((label) => {
    const series = data.values[label];
    for (let i = 0; i < running.length; i++) running[i] += series[i];
    return running.slice();
  });
}

/** The total of each series over the range, by label. */
export function seriesTotals(data) {
  return Object.fromEntries(
    data.labels.map((label) => [label, data.values[label].reduce((a, b) => a + b, 0)]),
  );
}

/**
 * At most `max` series: the `max - 1` largest (data.labels is largest first) and one
 * "Other (N groups)" series summing the rest, so that every series drawn has its own colour and
 * a chart of a thousand users stays readable. Data with `max` series or fewer is returned as is.
 */
export function foldSeries(data, max) {
  if (data.labels.length <= max) return data;
  const kept = data.labels.slice(0, max - 1);
  const rest = data.labels.slice(max - 1);
  const other = new Array(data.times.length).fill(0);
  for (const label of rest) data.values[label].forEach((v, i) => (other[i] += v));
  const otherLabel = `Other (${rest.length} groups)`;
  return {
    labels: [...kept, otherLabel],
    times: data.times,
    values: { ...Object.fromEntries(kept.map((label) => [label, data.values[label]])), [otherLabel]: other },
  };
}
