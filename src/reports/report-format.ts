import { CliInputError } from '../cli/cli-error.js';
import type { ChargebackReport, ReportRow } from './chargeback-report.js';
import { csvField } from './csv-cell.js';
import { formatReportHtml } from './report-html.js';
import { COUNT_COLUMNS, modelsOf, showCount, showMoney } from './report-cells.js';
import { escapeForTerminal, escapeJsonForTerminal } from './terminal-text.js';

/** The output formats of `tokenmeter report --format`. */
export const REPORT_FORMATS = ['md', 'csv', 'json', 'html'] as const;

export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** Validates `--format`; throws CliInputError naming the accepted values. */
export function parseReportFormat(text: string): ReportFormat {
  const format = REPORT_FORMATS.find((f) => f === text.trim().toLowerCase());
  if (format === undefined)
    throw new CliInputError(
      `invalid --format ${JSON.stringify(text)}: expected ${REPORT_FORMATS.join(', ')}`,
    );
  return format;
}

/** One JSON row: the keys of issue #9 item 4, in its order, plus `capacityCost` (item 3). */
export type ReportJsonRow = Record<string, string | number | null | Record<string, number | null>>;

/**
 * A row as `--format json` prints it: the `--by` key (`subscription` by default), `owner`,
 * `costCenter`, the counts, `cost` (token cost + capacity share), `capacityCost`,
 * `unpricedTokens`, `costByModel`. With `--by owner` / `--by costCenter` that key comes first
 * and appears once.
 */
export function toReportJsonRow(groupKey: string, row: ReportRow): ReportJsonRow {
  return {
    [groupKey]: row.group,
    owner: row.owner,
    costCenter: row.costCenter,
    requests: row.requests,
    promptTokens: row.promptTokens,
    completionTokens: row.completionTokens,
    totalTokens: row.totalTokens,
    cachedTokens: row.cachedTokens,
    cacheWriteTokens: row.cacheWriteTokens,
    reasoningTokens: row.reasoningTokens,
    cost: row.cost,
    capacityCost: row.capacityCost,
    unpricedTokens: row.unpricedTokens,
    costByModel: { ...row.costByModel },
  };
}

// A markdown cell: client-supplied text must not end the cell (|), break the row (line breaks,
// shown escaped by escapeForTerminal) or become HTML where a renderer passes HTML through.
function mdCell(text: string): string {
  return escapeForTerminal(text)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('|', '\\|');
}

function mdRow(cells: readonly string[]): string {
  return `| ${cells.join(' | ')} |`;
}

function formatMarkdown(report: ChargebackReport): string {
  const key = report.groupKey;
  const parties = (['owner', 'costCenter'] as const).filter((k) => k !== key);
  const header = [key, ...parties, ...COUNT_COLUMNS.map(([, label]) => label), 'token cost', 'cost'];
  const align = header.map((_, i) => (i <= parties.length ? '---' : '---:'));
  const blanks = new Array<string>(parties.length + COUNT_COLUMNS.length + 1).fill('');
  const line = (label: string, row: ReportRow): string =>
    mdRow([
      label,
      ...parties.map((p) => (row[p] === null ? '' : mdCell(row[p] ?? ''))),
      ...COUNT_COLUMNS.map(([k]) => showCount(row[k])),
      showMoney(row.tokenCost),
      showMoney(row.cost),
    ]);
  const out = [
    `# Chargeback report ${report.month} (${mdCell(report.timeZone)})`,
    '',
    mdRow(header.map(mdCell)),
    mdRow(align),
  ];
  for (const row of report.rows) {
    out.push(line(row.group === null ? '(none)' : mdCell(row.group), row));
    for (const [backend, share] of Object.entries(row.capacityByBackend))
      out.push(mdRow([`↳ capacity ${mdCell(backend)}`, ...blanks, showMoney(share)]));
  }
  out.push(line('**TOTAL**', report.total));
  if (report.rows.length === 0) out.push('', '(no usage recorded in this month)');
  for (const backend of report.unallocatedCapacity)
    out.push(
      '',
      `Capacity of ${mdCell(backend.id)} (${showMoney(backend.monthlyCost)}) was not used this month and is not charged.`,
    );
  const models = modelsOf(report);
  if (models.length > 0) {
    out.push(
      '',
      '## Cost by model',
      '',
      mdRow([mdCell(key), 'model', 'token cost']),
      mdRow(['---', '---', '---:']),
    );
    for (const row of report.rows)
      for (const model of models)
        if (model in row.costByModel)
          out.push(
            mdRow([
              row.group === null ? '(none)' : mdCell(row.group),
              mdCell(model),
              showMoney(row.costByModel[model] ?? null),
            ]),
          );
  }
  return out.join('\n');
}

function formatCsv(report: ChargebackReport): string {
  const models = modelsOf(report);
  const rows = report.rows.map((r) => toReportJsonRow(report.groupKey, r));
  const first = rows[0] ?? toReportJsonRow(report.groupKey, report.total);
  const keys = Object.keys(first).filter((k) => k !== 'costByModel');
  const lines = [[...keys, ...models.map((m) => `cost.${m}`)].map(csvField).join(',')];
  report.rows.forEach((row, i) => {
    const json = rows[i] ?? {};
    lines.push(
      [
        ...keys.map((k) => {
          const v = json[k];
          return csvField(typeof v === 'object' ? null : v);
        }),
        ...models.map((m) => csvField(row.costByModel[m])),
      ].join(','),
    );
  });
  return lines.join('\r\n');
}

/**
 * Renders a report. `json`: one array of rows (toReportJsonRow), characters a terminal would
 * not print as themselves escaped as `\uXXXX`. `csv`: a header of the json keys with one
 * `cost.<model>` column per model instead of `costByModel`, CRLF lines, cells as the usage CSV
 * writes them (formula-looking strings neutralised). `md`: a markdown table with a capacity
 * line under each row that has a share and a TOTAL row, then the cost by model. `html`: one
 * self-contained page (see formatReportHtml). No final line break; the caller adds one.
 */
export function formatReport(report: ChargebackReport, format: ReportFormat): string {
  switch (format) {
    case 'json':
      return escapeJsonForTerminal(
        JSON.stringify(
          report.rows.map((r) => toReportJsonRow(report.groupKey, r)),
          null,
          2,
        ),
      );
    case 'csv':
      return formatCsv(report);
    case 'md':
      return formatMarkdown(report);
    case 'html':
      return formatReportHtml(report);
  }
}
