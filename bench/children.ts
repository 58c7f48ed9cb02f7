import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseChildMessage, type Role } from './protocol.js';

const ENTRY = fileURLToPath(new URL('./bench-servers.ts', import.meta.url));

/** A server process of the benchmark. */
export interface ServerProcess {
  urls: Record<string, string>;
  /** The process id (for its memory in /proc). */
  pid: number;
  stop(): Promise<void>;
}

/**
 * Forks bench-servers.ts in `role` and resolves with the URLs it reports; rejects with the
 * child's message when it fails to start. The child's stderr is shared; its stdout is dropped
 * so that only the report goes to ours.
 */
export function startServerProcess(role: Role, args: string[] = []): Promise<ServerProcess> {
  const child = fork(ENTRY, [role, ...args], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, TOKENMETER_LOG_LEVEL: process.env.TOKENMETER_LOG_LEVEL ?? 'warn' },
  });
  return new Promise<ServerProcess>((resolve, reject) => {
    const onExit = (code: number | null): void =>
      reject(new Error(`${role} process exited with code ${String(code)}`));
    child.once('exit', onExit);
    child.on('message', (raw) => {
      const message = parseChildMessage(raw);
      if (message === undefined) return;
      child.off('exit', onExit);
      if (message.type === 'failed') {
        reject(new Error(message.message));
        return;
      }
      resolve({ urls: message.urls, pid: child.pid ?? 0, stop: () => stopChild(child) });
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.send('stop');
  });
}
