import { percentile, type LoadResult } from './load.js';
import type { MemoryResult } from './large-answer.js';
import type { TtfbResult } from './ttfb.js';

/**
 * The things measured: (a) the upstream itself, (b) a bare proxy, (c) tokenmeter, and (d)
 * tokenmeter identifying its caller (a verified JWT and five CEL dimensions), in the scenarios
 * that name it.
 */
export type TargetId = 'upstream' | 'bare' | 'tokenmeter' | 'bareIdentity' | 'identity';

export const TARGETS: readonly TargetId[] = ['upstream', 'bare', 'tokenmeter', 'bareIdentity', 'identity'];

/** The targets that run only in the scenarios marked `identity`. */
export const IDENTITY_TARGETS: ReadonlySet<TargetId> = new Set(['bareIdentity', 'identity']);

/** The targets of the time-to-first-byte table. */
const TTFB_TARGETS: readonly TargetId[] = ['upstream', 'bare', 'tokenmeter'];

const LABELS: Record<TargetId, string> = {
  upstream: '(a) simulator, direct',
  bare: '(b) bare Node proxy',
  tokenmeter: '(c) tokenmeter',
  bareIdentity: "(b′) bare Node proxy, (d)'s request headers",
  identity: '(d) tokenmeter, JWT + 5 CEL dimensions',
};

/** One load scenario's results per target (a target is absent when it was skipped). */
export interface ScenarioResult {
  name: string;
  /** Per target: the median over rounds of each figure; `ok` and `failed` summed. */
  results: Partial<Record<TargetId, LoadResult>>;
  /** (c) ÷ (b) throughput of each round, ascending; empty without both. */
  ratios: number[];
  /** (d) ÷ (b′) throughput of each round, ascending; empty without both. */
  identityRatios: number[];
}

/** The runs of one scenario: per round, each target's result. */
export type RoundResults = Partial<Record<TargetId, LoadResult>>[];

/** The middle value; for an even count, the lower of the two middle ones (nearest rank). */
function median(values: readonly number[]): number {
  return percentile(Float64Array.from(values).sort(), 50);
}

/** Folds a scenario's rounds into medians per target and the per-round throughput ratios. */
export function summarizeRounds(name: string, rounds: RoundResults): ScenarioResult {
  const results: ScenarioResult['results'] = {};
  for (const id of TARGETS) {
    const runs = rounds.map((r) => r[id]).filter((r): r is LoadResult => r !== undefined);
    if (runs.length === 0) continue;
    results[id] = {
      requestsPerSecond: median(runs.map((r) => r.requestsPerSecond)),
      p50: median(runs.map((r) => r.p50)),
      p99: median(runs.map((r) => r.p99)),
      ok: runs.reduce((n, r) => n + r.ok, 0),
      failed: runs.reduce((n, r) => n + r.failed, 0),
    };
  }
  const ratiosTo = (id: TargetId, base: TargetId): number[] =>
    rounds
      .map((r) => {
        const b = r[base];
        const x = r[id];
        return b !== undefined && x !== undefined && b.requestsPerSecond > 0
          ? x.requestsPerSecond / b.requestsPerSecond
          : undefined;
      })
      .filter((x): x is number => x !== undefined)
      .sort((x, y) => x - y);
  return {
    name,
    results,
    ratios: ratiosTo('tokenmeter', 'bare'),
    identityRatios: ratiosTo('identity', 'bareIdentity'),
  };
}

/** Everything the report prints. */
export interface BenchReport {
  /** One line each: node version, CPUs, durations, simulator settings. */
  setup: string[];
  scenarios: ScenarioResult[];
  ttfb: { title: string; results: Partial<Record<TargetId, TtfbResult>> };
  /** The memory scenario (large non-streamed answers), when it ran. */
  memory?: { title: string; results: Partial<Record<TargetId, MemoryResult>> };
  notes: string[];
}

const dash = '—';

function ms(value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return dash;
  return value < 10 ? value.toFixed(2) : value.toFixed(1);
}

function signedMs(value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return dash;
  return `${value >= 0 ? '+' : '−'}${ms(Math.abs(value))}`;
}

function rps(value: number | undefined): string {
  return value === undefined ? dash : Math.round(value).toLocaleString('en-US');
}

function diff(c: number | undefined, b: number | undefined): number | undefined {
  return c === undefined || b === undefined ? undefined : c - b;
}

/** Renders the report as markdown that can be pasted into the README. */
export function renderMarkdown(report: BenchReport): string {
  const lines: string[] = ['## Proxy overhead', '', ...report.setup.map((s) => `- ${s}`), ''];

  if (report.scenarios.length > 0) renderScenarios(report, lines);
  if (report.scenarios.length > 0) renderTtfb(report, lines);
  if (report.memory !== undefined) renderMemory(report.memory, lines);

  if (report.notes.length > 0) lines.push('', ...report.notes.map((n) => `> ${n}`));
  return `${lines.join('\n')}\n`;
}

function renderScenarios(report: BenchReport, lines: string[]): void {
  lines.push('| scenario | target | req/s | p50 ms | p99 ms |', '| --- | --- | ---: | ---: | ---: |');
  for (const scenario of report.scenarios) {
    // (d) runs in some scenarios only: no empty row where it did not.
    const targets = TARGETS.filter((id) => !IDENTITY_TARGETS.has(id) || scenario.results[id] !== undefined);
    targets.forEach((target, i) => {
      const r = scenario.results[target];
      const failed = r !== undefined && r.failed > 0 ? ` (${r.failed} failed)` : '';
      lines.push(
        `| ${i === 0 ? scenario.name : ''} | ${LABELS[target]}${failed} | ${rps(r?.requestsPerSecond)} | ${ms(r?.p50)} | ${ms(r?.p99)} |`,
      );
    });
  }

  lines.push(
    '',
    '| scenario | throughput (c) ÷ (b), median round | range over rounds | added latency p50 (c − b) | added latency p99 (c − b) |',
  );
  lines.push('| --- | ---: | ---: | ---: | ---: |');
  const percent = (x: number | undefined): string => (x === undefined ? dash : `${(x * 100).toFixed(0)} %`);
  for (const scenario of report.scenarios) {
    const b = scenario.results.bare;
    const c = scenario.results.tokenmeter;
    const { ratios } = scenario;
    const ratio = ratios.length > 0 ? percent(median(ratios)) : dash;
    const range = ratios.length > 1 ? `${percent(ratios[0])} – ${percent(ratios.at(-1))}` : dash;
    lines.push(
      `| ${scenario.name} | ${ratio} | ${range} | ${signedMs(diff(c?.p50, b?.p50))} ms | ${signedMs(diff(c?.p99, b?.p99))} ms |`,
    );
  }
  const withIdentity = report.scenarios.filter((s) => s.results.identity !== undefined);
  if (withIdentity.length === 0) return;
  lines.push(
    '',
    '| scenario | throughput (d) ÷ (b′), median round | range over rounds | added latency p50 (d − b′) | added latency p99 (d − b′) | identity cost p50 (d − c) |',
  );
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const scenario of withIdentity) {
    // (b′) carries (d)'s headers (a ~1.4 kB token): the bare proxy pays for their size too.
    const b = scenario.results.bareIdentity;
    const c = scenario.results.tokenmeter;
    const d = scenario.results.identity;
    const ratios = scenario.identityRatios;
    const ratio = ratios.length > 0 ? percent(median(ratios)) : dash;
    const range = ratios.length > 1 ? `${percent(ratios[0])} – ${percent(ratios.at(-1))}` : dash;
    lines.push(
      `| ${scenario.name} | ${ratio} | ${range} | ${signedMs(diff(d?.p50, b?.p50))} ms | ${signedMs(diff(d?.p99, b?.p99))} ms | ${signedMs(diff(d?.p50, c?.p50))} ms |`,
    );
  }
}

function renderTtfb(report: BenchReport, lines: string[]): void {
  const t = report.ttfb.results;
  lines.push(
    '',
    `| ${report.ttfb.title} | ${TTFB_TARGETS.map((id) => LABELS[id]).join(' | ')} | added (c − b) |`,
  );
  lines.push('| --- | ---: | ---: | ---: | ---: |');
  const row = (label: string, pick: (r: TtfbResult) => number): string => {
    const values = TTFB_TARGETS.map((id) => {
      const r = t[id];
      return r === undefined ? undefined : pick(r);
    });
    return `| ${label} | ${values.map(ms).join(' | ')} | ${signedMs(diff(values[2], values[1]))} |`;
  };
  lines.push(row('first byte p50 ms', (r) => r.firstByteP50));
  lines.push(row('first byte p99 ms', (r) => r.firstByteP99));
  lines.push(row('whole stream p50 ms', (r) => r.totalP50));
}

/** Peak resident memory of each proxy over the large answers, and (c) ÷ (b). */
function renderMemory(memory: NonNullable<BenchReport['memory']>, lines: string[]): void {
  const mb = (x: number | undefined): string =>
    x === undefined ? dash : Math.round(x).toLocaleString('en-US');
  lines.push('', `| ${memory.title} | RSS before, MB | peak RSS, MB | s per answer |`);
  lines.push('| --- | ---: | ---: | ---: |');
  for (const id of ['bare', 'tokenmeter'] as const) {
    const r = memory.results[id];
    const failed = r !== undefined && r.failed > 0 ? ` (${r.failed} failed)` : '';
    lines.push(
      `| ${LABELS[id]}${failed} | ${mb(r?.beforeMb)} | ${mb(r?.peakMb)} | ${r === undefined ? dash : r.secondsPerCall.toFixed(2)} |`,
    );
  }
  const b = memory.results.bare;
  const c = memory.results.tokenmeter;
  const ratio =
    b !== undefined && c !== undefined && b.peakMb > 0 ? `${(c.peakMb / b.peakMb).toFixed(2)}×` : dash;
  lines.push(`| peak RSS (c) ÷ (b) | | ${ratio} | |`);
}
