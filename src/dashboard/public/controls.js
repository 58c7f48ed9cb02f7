// controls.js: small DOM helpers for the form controls (select options, radio groups).

/** Replaces the options of `select` with `options` ([{ value, label }]), selecting `selected`. */
export function fillSelect(select, options, selected) {
  select.replaceChildren(
    ...options.map(({ value, label }) => {
      const option = document.createElement('option');
      option.value = value;
      option.textContent = label;
      option.selected = value === selected;
      return option;
    }),
  );
}

/** Checks the radio button of group `name` whose value is `value`. */
export function checkRadio(name, value) {
  for (const radio of document.querySelectorAll(`input[type="radio"][name="${name}"]`)) {
    radio.checked = radio.value === value;
  }
}
