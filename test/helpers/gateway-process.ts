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
}

/**
 * Writes `config` (ledger and port filled in) to a temp dir and starts `tokenmeter serve` on
 * port 0; resolves with the URL it prints.
 */
export async function startGatewayProcess(config: Record<string, unknown>): Promise<GatewayProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'tokenmeter-gw-'));
  const ledgerPath = join(dir, 'ledger.db');
  const configPath = join(dir, 'tokenmeter.yaml');
  const gateway = { host: '127.0.0.1', ...(config.gateway as Record<string, unknown> | undefined), port: 0 };
  writeFileSync(configPath, stringify({ ...config, gateway, ledger: `sqlite:${ledgerPath}` }));
  const child = spawn(process.execPath, [CLI, 'serve', '--config', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TOKENMETER_LOG_LEVEL: 'warn' },
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
  return { url, dir, configPath, ledgerPath, stderr: () => err, stop: () => stopChild(child) };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
