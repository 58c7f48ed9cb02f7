import { execFile } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { CLI } from '../helpers/paths.js';

/** What a CLI run printed and how it ended. */
export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built CLI (`bin/tokenmeter.js` → dist/) in a child process, as users do. Async, so an
 * in-process gateway of the same test keeps serving and polling meanwhile.
 */
export function runCli(args: readonly string[], cwd?: string): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { cwd, encoding: 'utf8', timeout: 60_000 },
      (err, stdout, stderr) => {
        const status = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ status, stdout, stderr });
      },
    );
  });
}

/** Runs the CLI and parses its stdout as JSON; fails on a non-zero exit. */
export async function runCliJson<T>(args: readonly string[], cwd?: string): Promise<T> {
  const run = await runCli([...args, '--format', 'json'], cwd);
  if (run.status !== 0) throw new Error(`tokenmeter ${args.join(' ')} exited ${run.status}: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

/** The JSON `keys create` and `keys rotate` print. */
export interface NewKeyJson {
  id: string;
  key: string;
  subscription: string;
  product: string;
  expiresAt: string | null;
  previousKeyWorksUntil?: string | null;
}

/**
 * Calls `check` until it returns true or `timeoutMs` have passed; resolves with the elapsed
 * milliseconds, or rejects naming `what`. For effects that happen on a timer (key reloads).
 */
export async function pollUntil(
  what: string,
  timeoutMs: number,
  check: () => Promise<boolean>,
): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await delay(50);
  }
}
