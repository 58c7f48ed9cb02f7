import { CliInputError } from '../cli/cli-error.js';
import { csvField } from './csv-cell.js';
import { escapeForTerminal, escapeJsonForTerminal } from './terminal-text.js';
import { USAGE_FIGURES, type UsageFigureKey, type UsageRow } from './usage-query.js';
import { textTable } from './text-table.js';

/** The output formats of `tokenmeter usage --format`. */
export const OUTPUT_FORMATS = ['table', 'json', 'csv'] as const;

export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Validates `--format`; throws CliInputError naming the accepted values. */
export function parseOutputFormat(text: string): OutputFormat {
  const format = OUTPUT_FORMATS.find((f) => f === text.trim().toLowerCase());
  if (format === undefined) {
    throw new CliInputError(
      `invalid --format ${JSON.stringify(text)}: expected ${OUTPUT_FORMATS.join(', ')}`,
    );
  }
  return format;
}

const FIGURE_LABELS: Record<UsageFigureKey, string> = {
  requests: 'requests',
  promptTokens: 'prompt',
  completionTokens: 'completion',
  totalTokens: 'total',
  cachedTokens: 'cached',
  cacheWriteTokens: 'cache write',
  reasoningTokens: 'reasoning',
  estimatedRequests: 'estimated',
  partialRequests: 'partial',
  cost: 'cost (USD)',
  unpricedTokens: 'unpriced tokens',
  unpricedRequests: 'unpriced',
};

type Cell = string | number | boolean | null | undefined;

interface Column {
  key: string;
  label: string;
  align: 'left' | 'right';
  show: (value: Cell) => string;
}

const INTEGER = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const MONEY = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 6 });

// Dimension values come from clients (user, model, custom headers): escaped, never raw.
function showDimension(value: Cell): string {
  return value === null || value === undefined ? '(none)' : escapeForTerminal(String(value));
}

function showFigure(key: UsageFigureKey): (value: Cell) => string {
  if (key === 'cost') return (v) => (typeof v === 'number' ? MONEY.format(v) : '-');
  return (v) => (typeof v === 'number' ? INTEGER.format(v) : '');
}

// "2025-01-31T10:00:00.000Z" → "2025-01-31 10:00": the header says the zone once.
function showTime(value: Cell): string {
  return typeof value === 'string' ? value.slice(0, 16).replace('T', ' ') : '';
}

function columnsOf(dimensions: readonly string[], time: boolean): Column[] {
  return [
    ...(time ? [{ key: 'time', label: 'time (UTC)', align: 'left' as const, show: showTime }] : []),
    ...dimensions.map((key) => ({
      key,
      label: escapeForTerminal(key),
      align: 'left' as const,
      show: showDimension,
    })),
    ...USAGE_FIGURES.map((key) => ({
      key,
      label: FIGURE_LABELS[key],
      align: 'right' as const,
      show: showFigure(key),
    })),
  ];
}

/** Sums the figures of all rows, for the TOTAL line of a table. */
function totalRow(rows: readonly UsageRow[]): Record<string, Cell> {
  const total: Record<string, Cell> = {};
  for (const key of USAGE_FIGURES) {
    const values = rows.map((r) => r[key]).filter((v): v is number => typeof v === 'number');
    // A cost no row knows stays unknown; tokens sum as the rows already do.
    total[key] = key === 'cost' && values.length === 0 ? null : values.reduce((a, b) => a + b, 0);
  }
  if (typeof total['cost'] === 'number') total['cost'] = Math.round(total['cost'] * 1e6) / 1e6;
  return total;
}

function formatTable(rows: readonly UsageRow[], columns: readonly Column[]): string {
  const body: string[][] = rows.map((row) => columns.map((c) => c.show(row[c.key])));
  if (rows.length > 1) {
    const total = totalRow(rows);
    body.push(columns.map((c, i) => (i === 0 ? 'TOTAL' : c.align === 'right' ? c.show(total[c.key]) : '')));
  }
  const out = textTable(
    columns.map((c) => c.label),
    body,
    {
      rightAligned: columns.map((c) => c.align === 'right'),
      // The totals row, when there is one, is ruled off from the rows it sums.
      rulesBefore: rows.length > 1 ? [body.length - 1] : [],
    },
  );
  if (rows.length === 0) out.push('(no usage recorded in this window)');
  return out.join('\n');
}

function formatCsv(rows: readonly UsageRow[], columns: readonly Column[]): string {
  const lines = [columns.map((c) => csvField(c.key)).join(',')];
  for (const row of rows) lines.push(columns.map((c) => csvField(row[c.key])).join(','));
  return lines.join('\r\n');
}

/**
 * Renders usage rows. `dimensions` are the row keys of the `--by` dimensions, in order (they
 * give the columns even when there are no rows); `time` adds the interval column and defaults
 * to whether the rows carry one.
 * - `json`: one JSON array that parses to exactly the rows; characters a terminal would not print
 *   as themselves (C1 controls, bidi overrides, …) are written as `\uXXXX` escapes.
 * - `csv`: a header line of row keys, then one line per row, CRLF-separated (RFC 4180); a string
 *   starting like a spreadsheet formula gets a leading `'` (see csvField).
 * - `table`: aligned columns for people, thousands separators, a TOTAL line when several rows;
 *   control, bidi and line-breaking characters of values are shown escaped (escapeForTerminal),
 *   so each value is one cell on one line.
 * The text has no final line break; the caller adds one.
 */
export function formatRows(
  rows: readonly UsageRow[],
  dimensions: readonly string[],
  format: OutputFormat,
  options: { time?: boolean } = {},
): string {
  if (format === 'json') return escapeJsonForTerminal(JSON.stringify(rows, null, 2));
  const columns = columnsOf(dimensions, options.time ?? rows.some((r) => r.time !== undefined));
  return format === 'csv' ? formatCsv(rows, columns) : formatTable(rows, columns);
}
