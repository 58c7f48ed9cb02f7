// filters.js: filters on any dimension: pick a dimension, then one of its values seen in the
// range (from /api/dimensions?name=), then "Add filter". Active filters show as removable chips.
// Values of one dimension are OR-ed and different dimensions AND-ed, as the API does.

import { getJson } from './api.js';
import { formatGroup } from './format.js';

/**
 * Wires the filter controls. `elements` = { dim, value, add, list }; `dimensionLabel(name)`
 * names a dimension; `range()` gives the current { since, until } (epoch ms); `onChange(filters)`
 * receives the new filter list ([{ dim, value }], value "" = absent) after an add or a remove.
 * Returns { setFilters(filters) } for the app to restore state.
 */
export function createFilters(elements, { dimensionLabel, range, onChange, onError }) {
  let filters = [];

  async function loadValues() {
    const name = elements.dim.value;
    elements.value.replaceChildren();
    elements.value.disabled = true;
    elements.add.disabled = true;
    if (!name) return;
    const { since, until } = range();
    try {
      const answer = await getJson('/api/dimensions', [
        ['name', name],
        ['since', new Date(since).toISOString()],
        ['until', new Date(until).toISOString()],
      ]);
      // A later change of dimension may have answered first: keep the list of the current one.
      if (elements.dim.value !== name) return;
      const options = answer.values.map((value) => {
        const option = document.createElement('option');
        option.value = value === null ? '' : String(value);
        option.textContent = formatGroup(value);
        return option;
      });
      if (answer.truncated) {
        const more = document.createElement('option');
        more.disabled = true;
        more.textContent = '… more values not listed';
        options.push(more);
      }
      if (options.length === 0) {
        const none = document.createElement('option');
        none.disabled = true;
        none.textContent = 'no values in this range';
        options.push(none);
      }
      elements.value.replaceChildren(...options);
      elements.value.disabled = answer.values.length === 0;
      elements.add.disabled = answer.values.length === 0;
    } catch (error) {
      onError(error);
    }
  }

  function render() {
    elements.list.replaceChildren(
      ...filters.map((filter, index) => {
        const item = document.createElement('li');
        item.className = 'chip';
        const text = document.createElement('span');
        const shown = filter.value === '' ? '(none)' : filter.value;
        text.textContent = `${dimensionLabel(filter.dim)} = ${shown}`;
        const remove = document.createElement('button');
        remove.type = 'button';
        remove.className = 'chip-remove';
        remove.textContent = '×';
        remove.setAttribute('aria-label', `Remove filter ${dimensionLabel(filter.dim)} = ${shown}`);
        remove.addEventListener('click', () => {
          filters = filters.filter((_, i) => i !== index);
          render();
          // The removed chip had the focus: hand it to the dimension picker.
          elements.dim.focus();
          onChange(filters);
        });
        item.append(text, remove);
        return item;
      }),
    );
  }

  elements.dim.addEventListener('change', () => void loadValues());
  elements.add.addEventListener('click', () => {
    const dim = elements.dim.value;
    const option = elements.value.selectedOptions[0];
    if (!dim || !option || option.disabled) return;
    const value = elements.value.value;
    if (filters.some((f) => f.dim === dim && f.value === value)) return;
    filters = [...filters, { dim, value }];
    render();
    onChange(filters);
  });

  return {
    setFilters(next) {
      filters = [...next];
      render();
    },
    reloadValues: () => loadValues(),
  };
}
