import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Moves SQLite WAL checkpoints off the event loop. With the default auto-checkpoint, the commit
 * that crosses 1000 WAL pages copies them into the database file and fsyncs it — tens of
 * milliseconds on the thread that serves calls, every few hundred commits (~30 µs per record
 * on average, measured). Here a worker thread with its own connection runs PASSIVE
 * checkpoints on a timer (PASSIVE never blocks writers); the gateway's connection keeps a high
 * auto-checkpoint threshold only as a safety net should the worker fail.
 */
export interface WalCheckpointer {
  /** Runs a last checkpoint (TRUNCATE: the WAL file is emptied) and stops the worker. */
  close(): Promise<void>;
}

/** WAL pages the gateway's own connection checkpoints at if the worker is not keeping up. */
export const SAFETY_NET_CHECKPOINT_PAGES = 20_000;

// The worker is CommonJS evaluated from a string, so it runs the same from dist/ and from
// sources under tsx; the driver is passed as a resolved path.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 2000');
const checkpoint = (mode) => {
  try { db.pragma('wal_checkpoint(' + mode + ')'); } catch (err) { parentPort.postMessage({ error: String(err) }); }
};
const timer = setInterval(() => checkpoint('PASSIVE'), workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message !== 'close') return;
  clearInterval(timer);
  checkpoint('TRUNCATE');
  db.close();
  parentPort.close();
});
`;

export function startWalCheckpointer(
  path: string,
  onError: (message: string) => void,
  intervalMs = 1000,
): WalCheckpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, driver, intervalMs } });
  worker.on('message', (message: { error?: string }) => {
    if (message.error !== undefined) onError(message.error);
  });
  worker.on('error', (err) => onError(err.message));
  // A background checkpointer must not keep the process alive on its own.
  worker.unref();
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    close() {
      // Keep the process alive until the last checkpoint is done.
      worker.ref();
      worker.postMessage('close');
      return exited;
    },
  };
}
