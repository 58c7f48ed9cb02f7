// csv.js: RFC 4180 CSV text and a Blob download, for the top-consumers table.

/**
 * One CSV cell: quoted when it holds a comma, quote or line break; a leading = + - @ is prefixed
 * with an apostrophe so that a spreadsheet never runs a dimension value as a formula.
 */
export function csvCell(value) {
  if (value === null || value === undefined) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** Rows of cells → CSV text with CRLF line ends. */
export function toCsv(rows) {
  return rows.map((row) => row.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

/** Offers `text` as a file download named `filename` (no server round trip). */
export function downloadText(text, filename, type = 'text/csv;charset=utf-8') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  // Revoke after the click has been handled: the download has taken its own reference by then.
  setTimeout(() => URL.revokeObjectURL(url), 0);
}
