import type { RollupBuildProgress } from '../ledger/rollup-store.js';
import { createProgressBar, type ProgressBar, type ProgressStream } from './progress-bar.js';

/**
 * Shows the rollup build a ledger runs when it is first opened by a tokenmeter that has rollups
 * (schema migration 7 on a ledger with records): a bar on a terminal, lines otherwise, then one
 * summary line. Nothing is written when there is nothing to build.
 *
 * @example
 * openLedger(url, { onRollupBuild: showRollupBuild() });
 */
export function showRollupBuild(stream: ProgressStream = process.stderr): RollupBuildProgress {
  let bar: ProgressBar | undefined;
  const started = performance.now();
  return (done, total) => {
    bar ??= createProgressBar({ label: 'building usage rollups (UTC days)', total, stream });
    bar.update(done);
    if (done >= total) {
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      bar.finish(`usage rollups built: ${total} days in ${seconds} s`);
    }
  };
}
