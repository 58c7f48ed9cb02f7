// top-table.js: the top-consumers table (group, requests, tokens, cost, share), sortable by every
// column with buttons in the headers (aria-sort tells assistive technology), and its CSV.

import { formatCompact, formatGroup, formatInteger, formatMoney, formatPercent } from './format.js';

/** The columns: key into a table row, header text, whether it sorts as text. */
export const COLUMNS = Object.freeze([
  { key: 'group', label: 'Group', text: true },
  { key: 'requests', label: 'Requests' },
  { key: 'totalTokens', label: 'Tokens' },
  { key: 'cost', label: 'Cost' },
  { key: 'share', label: 'Share' },
]);

/** /api/usage rows (no interval) grouped by `by` → table rows with their share of all tokens. */
export function toTableRows(rows, by) {
  const total = rows.reduce((sum, row) => sum + row.totalTokens, 0);
  return rows.map((row) => ({
    group: formatGroup(row[by]),
    requests: row.requests,
    totalTokens: row.totalTokens,
    cost: row.cost,
    share: total > 0 ? row.totalTokens / total : 0,
  }));
}

/** A sorted copy of `rows`; `dir` is "ascending" or "descending"; unknown costs sort lowest. */
export function sortRows(rows, { key, dir }) {
  const sign = dir === 'ascending' ? 1 : -1;
  const column = COLUMNS.find((c) => c.key === key);
  return [...rows].sort((a, b) => {
    const order = column?.text
      ? a.group.localeCompare(b.group)
      : (a[key] ?? -Infinity) - (b[key] ?? -Infinity) || 0;
    // Ties keep a stable, readable order: by group name.
    return sign * order || a.group.localeCompare(b.group);
  });
}

/** The next sort after pressing the header of `key`: same column flips, a new one starts sensibly. */
export function nextSort(sort, key) {
  if (sort.key === key) return { key, dir: sort.dir === 'ascending' ? 'descending' : 'ascending' };
  return { key, dir: COLUMNS.find((c) => c.key === key)?.text ? 'ascending' : 'descending' };
}

/**
 * A count as its full digits plus a compact form ("256.4M"); the stylesheet shows the compact
 * one on narrow screens only, where it stays hidden from screen readers, which read the digits.
 */
function countCell(n) {
  const full = document.createElement('span');
  full.className = 'full';
  full.textContent = formatInteger(n);
  const compact = document.createElement('span');
  compact.className = 'compact';
  compact.setAttribute('aria-hidden', 'true');
  compact.textContent = formatCompact(n);
  const cell = document.createDocumentFragment();
  cell.append(full, compact);
  return cell;
}

/**
 * Renders `rows` (already sorted) into `table`: a header row of sort buttons, then the body.
 * `groupLabel` names the first column (the group-by dimension); `onSort(key)` runs on a press.
 */
export function renderTable(table, rows, { sort, groupLabel, currency, onSort }) {
  const focusedKey = document.activeElement?.dataset?.sortKey;
  const headRow = document.createElement('tr');
  for (const column of COLUMNS) {
    const th = document.createElement('th');
    th.scope = 'col';
    if (!column.text) th.className = 'num';
    if (sort.key === column.key) th.setAttribute('aria-sort', sort.dir);
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'sort';
    button.dataset.sortKey = column.key;
    button.textContent = column.key === 'group' ? groupLabel : column.label;
    const arrow = document.createElement('span');
    arrow.className = 'sort-arrow';
    arrow.setAttribute('aria-hidden', 'true');
    arrow.textContent = sort.key === column.key ? (sort.dir === 'ascending' ? '▲' : '▼') : '';
    button.append(arrow);
    button.addEventListener('click', () => onSort(column.key));
    th.append(button);
    headRow.append(th);
  }
  const head = document.createElement('thead');
  head.append(headRow);
  const body = document.createElement('tbody');
  for (const row of rows) {
    const tr = document.createElement('tr');
    const cells = [
      row.group,
      countCell(row.requests),
      countCell(row.totalTokens),
      formatMoney(row.cost, currency),
      formatPercent(row.share),
    ];
    cells.forEach((content, i) => {
      const cell = document.createElement(i === 0 ? 'th' : 'td');
      if (i === 0) cell.scope = 'row';
      else cell.className = 'num';
      cell.append(content);
      tr.append(cell);
    });
    body.append(tr);
  }
  if (rows.length === 0) {
    const tr = document.createElement('tr');
    const td = document.createElement('td');
    td.colSpan = COLUMNS.length;
    td.className = 'empty';
    td.textContent = 'No usage in this range.';
    tr.append(td);
    body.append(tr);
  }
  table.replaceChildren(head, body);
  // The header was rebuilt: give the keyboard focus back to the button that was pressed.
  if (focusedKey !== undefined) table.querySelector(`button[data-sort-key="${focusedKey}"]`)?.focus();
}

/** The table as CSV rows (header first), in its current order; share in percent. */
export function tableCsvRows(rows, { groupLabel, currency }) {
  return [
    [groupLabel, 'Requests', 'Total tokens', `Cost (${currency})`, 'Share of tokens (%)'],
    ...rows.map((row) => [
      row.group,
      row.requests,
      row.totalTokens,
      row.cost ?? '',
      Math.round(row.share * 10000) / 100,
    ]),
  ];
}
