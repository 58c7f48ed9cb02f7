/** How {@link textTable} lays a table out. */
export interface TextTableOptions {
  /** Per column: right-aligned (figures) instead of left-aligned. */
  rightAligned?: readonly boolean[];
  /** Row indexes a dashed rule is drawn before (e.g. a totals row). */
  rulesBefore?: readonly number[];
}

/**
 * Lays out a table for a terminal, one string per line: each column padded to its widest cell
 * (header included), columns two spaces apart, trailing blanks trimmed, a dashed rule under the
 * header and before each row in `rulesBefore`. Cells are used as given: escape them first.
 */
export function textTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  options: TextTableOptions = {},
): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) =>
        options.rightAligned?.[i] === true ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd();
  const rule = line(widths.map((w) => '-'.repeat(w)));
  const out = [line(header), rule];
  rows.forEach((row, i) => {
    if (options.rulesBefore?.includes(i) === true) out.push(rule);
    out.push(line(row));
  });
  return out;
}
