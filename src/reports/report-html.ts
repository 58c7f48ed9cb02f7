import type { ChargebackReport, ReportRow } from './chargeback-report.js';
import { COUNT_COLUMNS, modelsOf, showCount, showMoney } from './report-cells.js';

/**
 * Escapes text for HTML element content and quoted attribute values. Every value on the page
 * goes through it: subscription ids, owners and cost centers come from config and clients.
 */
export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

// Print-friendly: no web fonts, no images, no scripts; everything the page needs is here.
const STYLE = `
body{font:13px/1.4 system-ui,sans-serif;color:#222;margin:24px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:24px 0 8px}
p.meta{color:#555;margin:0 0 16px}
table{border-collapse:collapse;width:100%}
th,td{padding:3px 6px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
th:first-child,td:first-child,td.text{text-align:left}
tr.capacity td{color:#555;font-style:italic}
tr.total td{font-weight:bold;border-top:2px solid #222}
.legend span{display:inline-block;margin-right:12px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
@media print{body{margin:0}}
`;

const WIDTH = 760;
const HEIGHT = 220;
const LEFT = 60;
const BOTTOM = 20;

function colour(index: number): string {
  // Golden-angle hues: neighbouring series stay distinguishable however many there are.
  return `hsl(${Math.round((index * 137.508) % 360)},60%,50%)`;
}

function label(row: ReportRow): string {
  return escapeHtml(row.group ?? '(none)');
}

function chart(report: ChargebackReport): string {
  const days = report.total.dailyTokens.length;
  const max = Math.max(1, ...report.total.dailyTokens);
  const slot = (WIDTH - LEFT) / days;
  const plot = HEIGHT - BOTTOM;
  const bars: string[] = [];
  for (let day = 0; day < days; day++) {
    let y = plot;
    report.rows.forEach((row, i) => {
      const tokens = row.dailyTokens[day] ?? 0;
      if (tokens === 0) return;
      const h = (tokens / max) * (plot - 10);
      y -= h;
      bars.push(
        `<rect x="${(LEFT + day * slot + 1).toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(1, slot - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${colour(i)}"><title>${label(row)}, day ${day + 1}: ${showCount(tokens)} tokens</title></rect>`,
      );
    });
  }
  const ticks = [1, Math.ceil(days / 2), days].map(
    (d) =>
      `<text x="${(LEFT + (d - 0.5) * slot).toFixed(1)}" y="${HEIGHT - 5}" text-anchor="middle">${d}</text>`,
  );
  const legend = report.rows
    .map((row, i) => `<span><i style="background:${colour(i)}"></i>${label(row)}</span>`)
    .join('');
  return [
    `<svg width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="daily tokens" font-size="11">`,
    `<line x1="${LEFT}" y1="${plot}" x2="${WIDTH}" y2="${plot}" stroke="#999"/>`,
    `<text x="${LEFT - 4}" y="14" text-anchor="end">${showCount(max)}</text>`,
    `<text x="${LEFT - 4}" y="${plot}" text-anchor="end">0</text>`,
    ...bars,
    ...ticks,
    '</svg>',
    `<div class="legend">${legend}</div>`,
  ].join('\n');
}

function costTable(report: ChargebackReport): string {
  const key = report.groupKey;
  const parties = (['owner', 'costCenter'] as const).filter((k) => k !== key);
  const head = [key, ...parties, ...COUNT_COLUMNS.map(([, l]) => l), 'token cost', 'cost']
    .map((h) => `<th>${escapeHtml(h)}</th>`)
    .join('');
  const blanks = '<td></td>'.repeat(parties.length + COUNT_COLUMNS.length + 1);
  const line = (cls: string, name: string, row: ReportRow): string =>
    `<tr${cls}><td>${name}</td>${parties.map((p) => `<td class="text">${escapeHtml(row[p] ?? '')}</td>`).join('')}${COUNT_COLUMNS.map(([k]) => `<td>${showCount(row[k])}</td>`).join('')}<td>${showMoney(row.tokenCost)}</td><td>${showMoney(row.cost)}</td></tr>`;
  const body: string[] = [];
  for (const row of report.rows) {
    body.push(line('', label(row), row));
    for (const [backend, share] of Object.entries(row.capacityByBackend))
      body.push(
        `<tr class="capacity"><td>capacity ${escapeHtml(backend)}</td>${blanks}<td>${showMoney(share)}</td></tr>`,
      );
  }
  body.push(line(' class="total"', 'TOTAL', report.total));
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body.join('\n')}\n</tbody></table>`;
}

function modelTable(report: ChargebackReport): string {
  const models = modelsOf(report);
  if (models.length === 0) return '';
  const rows = report.rows.flatMap((row) =>
    models
      .filter((m) => m in row.costByModel)
      .map(
        (m) =>
          `<tr><td>${label(row)}</td><td class="text">${escapeHtml(m)}</td><td>${showMoney(row.costByModel[m] ?? null)}</td></tr>`,
      ),
  );
  return `<h2>Cost by model</h2>\n<table><thead><tr><th>${escapeHtml(report.groupKey)}</th><th>model</th><th>token cost</th></tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table>`;
}

/**
 * One self-contained printable HTML page: inline CSS, an inline SVG of the month's stacked daily
 * tokens per row, the cost table (capacity lines, TOTAL) and the cost by model. Invariants: no
 * script, no external reference of any kind (no URL, no xmlns, no font or image), every value
 * escaped with escapeHtml.
 */
export function formatReportHtml(report: ChargebackReport): string {
  const title = `Chargeback report ${report.month}`;
  const unallocated = report.unallocatedCapacity.map(
    (b) =>
      `<p>Capacity of ${escapeHtml(b.id)} (${showMoney(b.monthlyCost)}) was not used this month and is not charged.</p>`,
  );
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${STYLE}</style></head><body>`,
    `<h1>${escapeHtml(title)}</h1>`,
    `<p class="meta">${escapeHtml(new Date(report.since).toISOString())} to ${escapeHtml(new Date(report.until).toISOString())} (months in ${escapeHtml(report.timeZone)}), ${showCount(report.total.totalTokens)} tokens, cost ${showMoney(report.total.cost)}</p>`,
    '<h2>Daily tokens</h2>',
    chart(report),
    '<h2>Cost</h2>',
    costTable(report),
    ...unallocated,
    modelTable(report),
    '</body></html>',
  ].join('\n');
}
