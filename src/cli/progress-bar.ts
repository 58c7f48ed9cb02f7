/** Where progress is written: stderr, or any stream (tests pass their own). */
export interface ProgressStream {
  write(text: string): unknown;
  /** A terminal: the bar is redrawn in place. Otherwise plain lines are written. */
  isTTY?: boolean;
  /** Terminal width in columns, when known. */
  columns?: number;
}

/** Options of {@link createProgressBar}. */
export interface ProgressBarOptions {
  /** What is counted, e.g. "generating records". */
  label: string;
  /** The count at completion (≥ 1). */
  total: number;
  /** Default process.stderr. */
  stream?: ProgressStream;
  /** Milliseconds clock (tests); default performance.now. */
  now?: () => number;
}

/** A progress display; `finish` once, after which updates are ignored. */
export interface ProgressBar {
  /** Reports `done` of `total` finished (monotonic; values above total count as total). */
  update(done: number): void;
  /**
   * Ends the display: a terminal's bar is completed and its line ended; then `summary`, when
   * given, is written as its own line.
   */
  finish(summary?: string): void;
}

/** A terminal bar is redrawn at most this often (ms): ~10 frames per second. */
const REDRAW_MS = 100;
/** Off a terminal, a line per this share of the total (10 %). */
const LINE_STEP = 0.1;

/** 1234567 → "1,234,567" (fixed locale, so output does not vary by machine). */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Seconds → "42s", "3m05s", "1h02m". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * A progress display for long CLI work (records generated, rollups built). On a terminal: one
 * line redrawn in place at most ~10 times a second — a bar, done/total, percentage, rate and ETA.
 * Elsewhere (a log, a CI job): one plain line each time another ~10 % is done, so logs stay short.
 *
 * @example
 * const bar = createProgressBar({ label: 'generating', total: 2_000_000 });
 * bar.update(500_000);
 * bar.finish('2,000,000 records in 41s (48,780/s)');
 */
export function createProgressBar(options: ProgressBarOptions): ProgressBar {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? (() => performance.now());
  const total = Math.max(1, options.total);
  const tty = stream.isTTY === true;
  const startedAt = now();
  let lastDraw = -Infinity;
  let nextLineAt = LINE_STEP;
  let done = 0;
  let finished = false;

  const describe = (): string => {
    const elapsed = (now() - startedAt) / 1000;
    const rate = elapsed > 0 ? done / elapsed : 0;
    const eta = rate > 0 ? formatDuration((total - done) / rate) : '?';
    const percent = ((100 * done) / total).toFixed(done < total ? 1 : 0);
    return `${formatCount(done)}/${formatCount(total)} ${percent}% ${formatCount(rate)}/s ETA ${eta}`;
  };

  const draw = (): void => {
    const text = describe();
    const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - options.label.length - text.length - 6));
    const filled = Math.round((width * done) / total);
    stream.write(`\r\x1b[2K${options.label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${text}`);
  };

  return {
    update(value) {
      if (finished) return;
      done = Math.min(total, Math.max(done, value));
      if (tty) {
        const t = now();
        if (t - lastDraw < REDRAW_MS && done < total) return;
        lastDraw = t;
        draw();
        return;
      }
      if (done / total + 1e-9 < nextLineAt) return;
      while (nextLineAt <= done / total + 1e-9) nextLineAt += LINE_STEP;
      stream.write(`${options.label}: ${describe()}\n`);
    },
    finish(summary) {
      if (finished) return;
      finished = true;
      if (tty) {
        draw();
        stream.write('\n');
      }
      if (summary !== undefined) stream.write(`${summary}\n`);
    },
  };
}
