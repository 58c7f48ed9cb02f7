/**
 * First characters that make a spreadsheet (Excel, LibreOffice, Google Sheets) read a cell as a
 * formula or start a DDE payload: OWASP's list (=, +, -, @, tab, CR), plus LF for good measure.
 * https://owasp.org/www-community/attacks/CSV_Injection
 */
const FORMULA_START = /^[=+\-@\t\r\n]/;

/**
 * One CSV field (RFC 4180): a field holding a comma, a quote, CR or LF is quoted, quotes doubled;
 * so is one holding `;` or a tab, the separators spreadsheets use in some locales, so that no
 * part of a value can become a cell of its own (and start with `=`) there either;
 * null and undefined are empty. A string starting like a formula (see FORMULA_START) gets a
 * leading `'`, as OWASP recommends, so a spreadsheet shows it as text instead of evaluating it.
 * Only strings are neutralised: a number is written as it is, so `-3` stays a number.
 *
 * @example
 * csvField('=HYPERLINK("http://x")'); // '"\'=HYPERLINK(""http://x"")"'
 * csvField(-3);                       // '-3'
 */
export function csvField(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '';
  let text = String(value);
  if (typeof value === 'string' && FORMULA_START.test(text)) text = `'${text}`;
  return /[",;\t\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
