// chart.js: the stacked time series, drawn with uPlot (the global `uPlot` from uPlot.iife.min.js).
// uPlot does not stack: each visible series is drawn as the cumulative sum of the series below it
// and a band fills it down to the previous sum, so the areas read as stacked shares.

import { formatBucket } from './format.js';
import { seriesColour, withAlpha } from './palette.js';
import { stackSeries } from './series.js';

const DAY_S = 86_400;
/** Tick steps of a daily chart, in seconds: 1, 2, 7, 14 days, ~1, 3 months. */
const DAY_TICKS = [DAY_S, 2 * DAY_S, 7 * DAY_S, 14 * DAY_S, 30 * DAY_S, 91 * DAY_S];
const TICK_DAY = new Intl.DateTimeFormat('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });

function formatTickDay(seconds) {
  return TICK_DAY.format(new Date(seconds * 1000));
}

const MIN_HEIGHT = 220;
const MAX_HEIGHT = 380;

/** The chart height for a container width: wide screens get a flatter chart. */
function chartHeight(width) {
  return Math.round(Math.min(MAX_HEIGHT, Math.max(MIN_HEIGHT, width * 0.42)));
}

/**
 * Draws `data` (from buildSeries) into `container`, replacing any chart there, and returns the
 * uPlot instance. `hidden` is the Set of series labels the legend switched off; `formatValue`
 * formats a metric value; `onHover(text)` receives a one-line reading of the hovered bucket.
 * Colours follow each label's position in data.labels, so hiding a series never recolours others.
 */
export function drawChart(container, data, { hidden, hourly, formatValue, formatTick, onHover }) {
  container.replaceChildren();
  const visible = data.labels.filter((label) => !hidden.has(label));
  const stacked = stackSeries(data, visible);
  const width = Math.max(container.clientWidth, 280);
  const series = [
    {},
    ...visible.map((label) => {
      const colour = seriesColour(data.labels.indexOf(label));
      return { label, stroke: colour, fill: withAlpha(colour, 0.55), width: 1.5, points: { show: false } };
    }),
  ];
  // Each series k (k >= 2 in uPlot's numbering, 1 = bottom) fills down to series k - 1.
  const bands = visible.slice(1).map((_, k) => ({ series: [k + 2, k + 1] }));
  const opts = {
    width,
    height: chartHeight(width),
    legend: { show: false },
    cursor: { drag: { x: false, y: false }, points: { show: false } },
    // The API buckets by UTC day and hour: show the axis in UTC too, whatever the browser's zone.
    tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), 'Etc/UTC'),
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.05 : 1] } },
    axes: [
      {
        stroke: '#333',
        grid: { stroke: '#e3e3e3' },
        ticks: { stroke: '#ccc' },
        // Daily buckets get ticks on whole days only (uPlot would pick 8-hour steps for a week).
        ...(hourly ? {} : { incrs: DAY_TICKS, values: (_u, ticks) => ticks.map(formatTickDay) }),
      },
      {
        stroke: '#333',
        grid: { stroke: '#e3e3e3' },
        ticks: { stroke: '#ccc' },
        size: 64,
        values: (_u, ticks) => ticks.map(formatTick),
      },
    ],
    series,
    bands,
    hooks: {
      setCursor: [
        (u) => {
          const i = u.cursor.idx;
          if (i === null || i === undefined) return onHover('');
          const parts = visible
            .map((label) => [label, data.values[label][i]])
            .filter(([, v]) => v > 0)
            .reverse()
            .map(([label, v]) => `${label} ${formatValue(v)}`);
          onHover(`${formatBucket(data.times[i] * 1000, hourly)}: ${parts.join(' · ') || 'nothing'}`);
        },
      ],
    },
  };
  return new uPlot(opts, [data.times, ...stacked], container);
}
