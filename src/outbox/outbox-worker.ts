import { parentPort, workerData } from 'node:worker_threads';
import { openLedger } from '../ledger/ledger.js';
import { createShipper, type ShipProgress } from './outbox-shipper.js';
import { HOLD_MAX_MS, type FromWorker, type OutboxWorkerData, type ToWorker } from './worker-messages.js';

/**
 * The outbox worker thread: ships the journal into the ledger through a connection of its own
 * (outbox-shipper.ts), so that the main thread never waits for the ledger on a call's path.
 */
const port = parentPort;
if (port === null) throw new Error('outbox-worker.ts runs as a worker thread');
const data = workerData as OutboxWorkerData;
const post = (message: FromWorker): void => port.postMessage(message);

/**
 * Progress goes to the main thread at most every PROGRESS_MS (the last one trailing), and at
 * once when reachability changes: under load the shipper finishes a small batch every few
 * hundred microseconds, and a message per batch cost the main thread several µs per record
 * (measured with bench/write-path-bench.ts). A read's catch-up waits at most that much longer.
 */
const PROGRESS_MS = 20;
let latest: ShipProgress | undefined;
let lastPost = 0;
let trailing: NodeJS.Timeout | undefined;
let reachable = true;
const postProgress = (): void => {
  trailing = undefined;
  if (latest === undefined) return;
  lastPost = Date.now();
  reachable = latest.reachable;
  post({ type: 'progress', progress: latest });
  latest = undefined;
};
const onProgress = (progress: ShipProgress): void => {
  latest = progress;
  if (progress.reachable !== reachable || Date.now() - lastPost >= PROGRESS_MS) {
    if (trailing !== undefined) clearTimeout(trailing);
    postProgress();
  } else trailing ??= setTimeout(postProgress, PROGRESS_MS);
};

const shipper = createShipper({
  dirs: data.dirs,
  openTarget: () => openLedger(data.url, { cwd: data.cwd }),
  ...(data.batchSize !== undefined ? { batchSize: data.batchSize } : {}),
  ...(data.idleMs !== undefined ? { idleMs: data.idleMs } : {}),
  ...(data.backoffMs !== undefined ? { backoffMs: data.backoffMs } : {}),
  holdMaxMs: data.holdMaxMs ?? HOLD_MAX_MS,
  onProgress,
});

post({ type: 'started' });

/** The id of the hold in place (the main thread holds one at a time). */
let holdId: number | undefined;

port.on('message', (message: ToWorker) => {
  if (message.type === 'wake') shipper.wake();
  else if (message.type === 'drain')
    void shipper.drain(message.final, message.timeoutMs).then((complete) => {
      // The main thread counts what is pending from the last progress: send it first.
      if (trailing !== undefined) clearTimeout(trailing);
      postProgress();
      post({ type: 'drained', id: message.id, complete });
    });
  else if (message.type === 'hold') {
    holdId = message.id;
    void shipper.hold(message.upTo).then((handled) => {
      if (trailing !== undefined) clearTimeout(trailing);
      postProgress();
      post({ type: 'held', id: message.id, handled });
    });
  } else if (message.type === 'release') {
    // A late release of an earlier hold must not end the one in place.
    if (message.id !== holdId) return;
    holdId = undefined;
    shipper.release();
  } else if (message.type === 'stop')
    void shipper.stop().finally(() => {
      if (trailing !== undefined) clearTimeout(trailing);
      postProgress();
      post({ type: 'stopped' });
      port.close();
    });
});
