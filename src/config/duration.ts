const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

const DURATION = /^(\d{1,6})([smhd])$/;

/**
 * Parses a duration written as a count and a unit (`90s`, `30m`, `12h`, `90d`) into
 * milliseconds; undefined when the text is not one or is zero. Used by the CLI (`--since 30d`,
 * `keys create --expires 90d`) and the configuration (`tokenMetrics[].cardinalityWindow: 1h`).
 */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (match === null) return undefined;
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  return ms > 0 ? ms : undefined;
}
