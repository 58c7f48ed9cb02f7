// legend.js: the chart legend, one toggle button per series (click, Enter or Space hides it).
// aria-pressed="true" means the series is shown; the button also names the series' total.

import { seriesColour } from './palette.js';

/**
 * Renders the legend of `data` into the list `list`. `hidden` is the Set of hidden labels;
 * `onToggle(label)` is called when a button is pressed; `formatValue` formats a series total.
 */
export function renderLegend(list, data, totals, { hidden, onToggle, formatValue }) {
  const focused = document.activeElement?.dataset?.series;
  list.replaceChildren(
    ...data.labels.map((label, index) => {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'legend-item';
      button.dataset.series = label;
      button.setAttribute('aria-pressed', String(!hidden.has(label)));
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.setAttribute('aria-hidden', 'true');
      // CSSOM, not a style attribute: the page's CSP forbids inline style attributes.
      swatch.style.backgroundColor = seriesColour(index);
      const name = document.createElement('span');
      name.className = 'legend-name';
      name.textContent = label;
      const total = document.createElement('span');
      total.className = 'legend-total';
      total.textContent = formatValue(totals[label]);
      button.append(swatch, name, total);
      button.addEventListener('click', () => onToggle(label));
      item.append(button);
      return item;
    }),
  );
  // Re-rendering replaces the buttons: keep the keyboard focus on the one just pressed.
  if (focused !== undefined) {
    for (const button of list.querySelectorAll('button'))
      if (button.dataset.series === focused) button.focus();
  }
}
