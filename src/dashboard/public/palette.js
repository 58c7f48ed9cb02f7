// palette.js: the fixed series colours of the dashboard chart and legend.
// 24 distinct hues, each dark enough for at least 3:1 contrast on white (WCAG non-text contrast),
// ordered so that neighbours in a stack differ in hue. Series past 24 reuse the palette in order.

/** Hex colours, index = series position (largest series first). */
export const PALETTE = Object.freeze([
  '#1f5fbf', // blue
  '#c0392b', // red
  '#1e8449', // green
  '#7d3c98', // purple
  '#b9770e', // ochre
  '#0e7c86', // teal
  '#a93e6b', // raspberry
  '#5b6b1f', // olive
  '#34495e', // slate
  '#c25400', // orange
  '#2e7fb8', // sky
  '#8e44ad', // violet
  '#117a65', // pine
  '#9c640c', // bronze
  '#6e2c00', // chestnut
  '#1a5276', // navy
  '#b03a8c', // magenta
  '#196f3d', // forest
  '#7b241c', // maroon
  '#5d6d7e', // grey-blue
  '#a0522d', // sienna
  '#148f77', // sea green
  '#4a235a', // aubergine
  '#7a7a00', // mustard
]);

/** The colour of series number `index` (0-based). */
export function seriesColour(index) {
  return PALETTE[index % PALETTE.length];
}

/** `#rrggbb` with an alpha, as an rgba() string for area fills. */
export function withAlpha(hex, alpha) {
  const n = Number.parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}
