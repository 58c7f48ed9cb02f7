import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CLI } from './paths.js';

/** A `tokenmeter serve` child process, as a user runs it. */
export interface GatewayProcess {
  url: string;
  dir: string;
  configPath: string;
  ledgerPath: string;
  stderr: () => string;
  stop(): Promise<void>;
  /** Sends a signal (SIGKILL: a crash) and resolves when the process has exited. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** How to start the child, beyond its configuration. */
export interface GatewayProcessOptions {
  /** Reuse this directory (and the ledger in it), e.g. to restart after a crash. */
  dir?: string;
  /** A command the gateway runs under, e.g. `['prlimit', '--fsize=65536']`. */
  wrapper?: readonly string[];
  /** The ledger URL instead of an SQLite file in `dir` (e.g. a shared PostgreSQL ledger). */
  ledgerUrl?: string;
  /** Environment variables on top of this process's. */
  env?: Record<string, string>;
}

/**
 * Writes `config` (ledger and port filled in) to a temp dir and starts `tokenmeter serve` on
 * port 0; resolves with the URL it prints.
 */
export async function startGatewayProcess(
  config: Record<string, unknown>,
  options: GatewayProcessOptions = {},
): Promise<GatewayProcess> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'tokenmeter-gw-'));
  const ledgerPath = join(dir, 'ledger.db');
  const configPath = join(dir, 'tokenmeter.yaml');
  const gateway = { host: '127.0.0.1', ...(config.gateway as Record<string, unknown> | undefined), port: 0 };
  // The long form of `ledger` keeps its policy; only the URL is the test's own.
  const ledgerUrl = options.ledgerUrl ?? `sqlite:${ledgerPath}`;
  const ledger =
    typeof config.ledger === 'object' && config.ledger !== null
      ? { ...config.ledger, url: ledgerUrl }
      : ledgerUrl;
  writeFileSync(configPath, stringify({ ...config, gateway, ledger }));
  const [command, ...prefix] = [...(options.wrapper ?? []), process.execPath];
  const child = spawn(command ?? process.execPath, [...prefix, CLI, 'serve', '--config', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TOKENMETER_LOG_LEVEL: 'warn', ...options.env },
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1] !== undefined) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}: ${err}`)));
  });
  return {
    url,
    dir,
    configPath,
    ledgerPath,
    stderr: () => err,
    stop: () => stopChild(child, 'SIGTERM'),
    kill: (signal) => stopChild(child, signal),
  };
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}
