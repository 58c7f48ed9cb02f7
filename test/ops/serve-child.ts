import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CLI } from '../helpers/paths.js';

/** A `tokenmeter serve` child at log level info (its stop summary is what these tests read). */
export interface ServeChild {
  url: string;
  ledgerPath: string;
  child: ChildProcess;
  stderr: () => string;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once stderr holds a line matching `pattern`. */
  waitForLog(pattern: RegExp): Promise<string>;
}

/** Starts `tokenmeter serve` on 127.0.0.1:0 with `config` and an SQLite ledger in a temp dir. */
export async function startServeChild(config: Record<string, unknown>): Promise<ServeChild> {
  const dir = mkdtempSync(join(tmpdir(), 'tokenmeter-ops-'));
  const ledgerPath = join(dir, 'ledger.db');
  const configPath = join(dir, 'tokenmeter.yaml');
  const gateway = { ...(config.gateway as Record<string, unknown> | undefined), host: '127.0.0.1', port: 0 };
  writeFileSync(configPath, stringify({ ...config, gateway, ledger: `sqlite:${ledgerPath}` }));
  const child = spawn(process.execPath, [CLI, 'serve', '--config', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TOKENMETER_LOG_LEVEL: 'info' },
  });
  let err = '';
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    for (const w of [...waiters]) {
      const line = err.split('\n').find((l) => w.pattern.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1] !== undefined) resolve(m[1]);
    });
    void exited.then(({ code }) => reject(new Error(`gateway exited with ${code}: ${err}`)));
  });
  return {
    url,
    ledgerPath,
    child,
    stderr: () => err,
    exited,
    waitForLog(pattern) {
      const line = err.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) return Promise.resolve(line);
      return new Promise((resolve) => waiters.push({ pattern, resolve }));
    },
  };
}
