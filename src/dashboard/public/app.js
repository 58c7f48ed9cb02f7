// app.js: the dashboard page: holds the query state (range, interval, metric, group, filters),
// asks the API for the chart and the top-consumers table, and wires every control.
// Test/bench hook (read-only): #usage-chart[data-state] is loading | ready | error, "ready" once
// the chart of the current query has drawn; window.tokenmeterDashboard.chartData() returns the
// unstacked series of that query (all of them, before the chart folds the smallest into "Other").

import { ApiError, getJson } from './api.js';
import { drawChart } from './chart.js';
import { downloadText, toCsv } from './csv.js';
import { checkRadio, fillSelect } from './controls.js';
import { createFilters } from './filters.js';
import { formatCompact, formatDay, formatInteger, formatMoney } from './format.js';
import { renderLegend } from './legend.js';
import { customRange, presetRange, RANGE_PRESETS } from './range.js';
import { describeRecordShare } from './record-share.js';
import { PALETTE } from './palette.js';
import { buildSeries, foldSeries, METRICS, seriesTotals } from './series.js';
import { nextSort, renderTable, sortRows, tableCsvRows, toTableRows } from './top-table.js';
import { readViewState, writeViewState } from './view-state.js';

const $ = (id) => document.getElementById(id);

const el = {
  who: $('who'),
  error: $('error'),
  range: $('range'),
  customDates: $('custom-dates'),
  since: $('since'),
  until: $('until'),
  applyDates: $('apply-dates'),
  rangeText: $('range-text'),
  metric: $('metric'),
  groupBy: $('group-by'),
  chart: $('usage-chart'),
  chartTitle: $('chart-title'),
  readout: $('chart-readout'),
  legend: $('legend'),
  share: $('record-share'),
  table: $('top-table'),
  download: $('download-csv'),
};

const state = {
  currency: 'USD',
  dimensions: [],
  preset: '30d',
  since: 0,
  until: 0,
  interval: '1d',
  metric: 'totalTokens',
  by: 'subscription',
  filters: [],
  hidden: new Set(),
  sort: { key: 'totalTokens', dir: 'descending' },
  chartData: { labels: [], times: [], values: {} },
  tableRows: [],
  // Answers to an older query are dropped: only the latest query may draw.
  generation: 0,
};

function dimensionLabel(name) {
  const dimension = state.dimensions.find((d) => d.name === name);
  return dimension ? dimension.label : name;
}

function formatMetric(value) {
  return state.metric === 'cost' ? formatMoney(value, state.currency) : formatInteger(value);
}

function formatTick(value) {
  return state.metric === 'cost' ? formatMoney(value, state.currency) : formatCompact(value);
}

function showError(error) {
  if (error instanceof ApiError && error.status === 401) return;
  const message = error instanceof Error ? error.message : String(error);
  const param = error instanceof ApiError && error.param ? ` (parameter: ${error.param})` : '';
  el.error.textContent = `${message}${param}`;
  el.error.hidden = false;
}

function clearError() {
  el.error.hidden = true;
  el.error.textContent = '';
}

function queryParams() {
  const params = [
    ['by', state.by],
    ['since', new Date(state.since).toISOString()],
    ['until', new Date(state.until).toISOString()],
  ];
  for (const filter of state.filters) params.push(['where', `${filter.dim}:${filter.value}`]);
  return params;
}

function drawCurrentChart() {
  // One colour per series: past the palette, the smallest groups are drawn as one "Other".
  const shown = foldSeries(state.chartData, PALETTE.length);
  drawChart(el.chart, shown, {
    hidden: state.hidden,
    hourly: state.interval === '1h',
    formatValue: formatMetric,
    formatTick,
    onHover: (text) => {
      el.readout.textContent = text;
    },
  });
  renderLegend(el.legend, shown, seriesTotals(shown), {
    hidden: state.hidden,
    formatValue: formatMetric,
    onToggle: (label) => {
      if (state.hidden.has(label)) state.hidden.delete(label);
      else state.hidden.add(label);
      drawCurrentChart();
    },
  });
}

function drawTable() {
  renderTable(el.table, sortRows(state.tableRows, state.sort), {
    sort: state.sort,
    groupLabel: dimensionLabel(state.by),
    currency: state.currency,
    onSort: (key) => {
      state.sort = nextSort(state.sort, key);
      drawTable();
    },
  });
}

function describeQuery() {
  const metric = METRICS.find((m) => m.key === state.metric)?.label ?? state.metric;
  const every = state.interval === '1h' ? 'hourly' : 'daily';
  el.chartTitle.textContent = `${metric} per ${dimensionLabel(state.by)}, ${every}`;
  el.rangeText.textContent = `${formatDay(state.since)} to ${formatDay(state.until - 1)} (UTC)`;
  el.chart.setAttribute('aria-label', `Stacked chart of ${el.chartTitle.textContent.toLowerCase()}`);
}

/** Runs the current query: the chart (with interval) and the table (without), in parallel. */
async function refresh() {
  const generation = ++state.generation;
  el.chart.dataset.state = 'loading';
  el.table.dataset.state = 'loading';
  clearError();
  describeQuery();
  // Keep the view in the address (replaceState: no history entry per click).
  history.replaceState(null, '', `#${writeViewState(state)}`);
  const params = queryParams();
  const chart = getJson('/api/usage', [...params, ['interval', state.interval]]).then((rows) => {
    if (generation !== state.generation) return;
    state.chartData = buildSeries(rows, state);
    drawCurrentChart();
    el.chart.dataset.state = 'ready';
  });
  const table = getJson('/api/usage', params).then((rows) => {
    if (generation !== state.generation) return;
    state.tableRows = toTableRows(rows, state.by);
    drawTable();
    el.share.textContent = describeRecordShare(rows);
    el.table.dataset.state = 'ready';
  });
  const results = await Promise.allSettled([chart, table]);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed && generation === state.generation) {
    el.chart.dataset.state = 'error';
    el.table.dataset.state = 'error';
    showError(failed.reason);
  }
}

function setRange() {
  if (state.preset === 'custom') {
    const range = customRange(el.since.value, el.until.value);
    if (range.error) {
      showError(new Error(range.error));
      return false;
    }
    state.since = range.since;
    state.until = range.until;
  } else {
    Object.assign(state, presetRange(state.preset, Date.now()));
  }
  return true;
}

function wireControls(filters) {
  el.range.addEventListener('change', () => {
    state.preset = el.range.value;
    el.customDates.hidden = state.preset !== 'custom';
    if (state.preset === 'custom') {
      // Start from the range on screen, so that "custom" narrows what one was looking at.
      el.since.value = formatDay(state.since);
      el.until.value = formatDay(state.until - 1);
      el.since.focus();
      return;
    }
    if (state.preset === '24h') selectInterval('1h');
    if (setRange()) rangeChanged();
  });
  el.applyDates.addEventListener('click', () => {
    if (setRange()) rangeChanged();
  });
  for (const radio of document.querySelectorAll('input[name="interval"]')) {
    radio.addEventListener('change', () => {
      state.interval = radio.value;
      void refresh();
    });
  }
  el.metric.addEventListener('change', () => {
    state.metric = el.metric.value;
    void refresh();
  });
  el.groupBy.addEventListener('change', () => {
    state.by = el.groupBy.value;
    state.hidden.clear();
    void refresh();
  });
  el.download.addEventListener('click', () => {
    const rows = sortRows(state.tableRows, state.sort);
    const csv = toCsv(tableCsvRows(rows, { groupLabel: dimensionLabel(state.by), currency: state.currency }));
    const name = `tokenmeter-top-${state.by}-${formatDay(state.since)}-to-${formatDay(state.until - 1)}.csv`;
    downloadText(csv, name.replace(/[^A-Za-z0-9._-]/g, '_'));
  });
  document.getElementById('controls').addEventListener('submit', (event) => event.preventDefault());

  function rangeChanged() {
    void refresh();
    // The value list of the chosen filter dimension is "values seen in the range".
    void filters.reloadValues();
  }
}

function selectInterval(interval) {
  state.interval = interval;
  checkRadio('interval', interval);
}

async function start() {
  window.tokenmeterDashboard = Object.freeze({
    chartData: () => structuredClone(state.chartData),
  });
  el.chart.dataset.state = 'loading';
  try {
    const [session, dims] = await Promise.all([getJson('/api/session'), getJson('/api/dimensions')]);
    state.currency = session.currency || 'USD';
    el.who.textContent =
      session.role === 'admin' ? 'Signed in as admin' : `Signed in as subscription ${session.subscription}`;
    state.dimensions = dims.dimensions;
  } catch (error) {
    el.chart.dataset.state = 'error';
    showError(error);
    return;
  }
  const view = readViewState(window.location.hash, {
    presets: RANGE_PRESETS.map((p) => p.value),
    metrics: METRICS.map((m) => m.key),
    dimensions: state.dimensions.map((d) => d.name),
  });
  Object.assign(state, view);
  const dimensionOptions = state.dimensions.map((d) => ({
    value: d.name,
    label: d.custom ? `${d.label} (custom)` : d.label,
  }));
  fillSelect(el.range, RANGE_PRESETS, state.preset);
  fillSelect(
    el.metric,
    METRICS.map((m) => ({ value: m.key, label: m.label })),
    state.metric,
  );
  fillSelect(el.groupBy, dimensionOptions, state.by);
  fillSelect($('filter-dim'), [{ value: '', label: 'Choose…' }, ...dimensionOptions], '');
  const filters = createFilters(
    { dim: $('filter-dim'), value: $('filter-value'), add: $('add-filter'), list: $('active-filters') },
    {
      dimensionLabel,
      range: () => ({ since: state.since, until: state.until }),
      onChange: (next) => {
        state.filters = next;
        void refresh();
      },
      onError: showError,
    },
  );
  wireControls(filters);
  filters.setFilters(state.filters);
  selectInterval(state.interval);
  if (view.preset === 'custom') {
    el.since.value = view.from;
    el.until.value = view.to;
    el.customDates.hidden = false;
  }
  // Redraw at the new width when the window (or a phone's orientation) changes.
  let width = el.chart.clientWidth;
  new ResizeObserver(() => {
    if (el.chart.clientWidth !== width && el.chart.dataset.state === 'ready') {
      width = el.chart.clientWidth;
      drawCurrentChart();
    }
  }).observe(el.chart);
  if (!setRange()) {
    // A linked custom range that does not hold (end before start): fall back to the default.
    state.preset = '30d';
    el.range.value = '30d';
    el.customDates.hidden = true;
    setRange();
  }
  await refresh();
}

void start();
