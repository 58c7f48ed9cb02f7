import { parentPort, workerData } from 'node:worker_threads';
import { openLedger } from '../ledger/ledger.js';
import { createShipper } from './outbox-shipper.js';
import type { FromWorker, OutboxWorkerData, ToWorker } from './worker-messages.js';

/**
 * The outbox worker thread: ships the journal into the ledger through a connection of its own
 * (outbox-shipper.ts), so that the main thread never waits for the ledger on a call's path.
 */
const port = parentPort;
if (port === null) throw new Error('outbox-worker.ts runs as a worker thread');
const data = workerData as OutboxWorkerData;
const post = (message: FromWorker): void => port.postMessage(message);

const shipper = createShipper({
  dirs: data.dirs,
  openTarget: () => openLedger(data.url, { cwd: data.cwd }),
  ...(data.batchSize !== undefined ? { batchSize: data.batchSize } : {}),
  ...(data.idleMs !== undefined ? { idleMs: data.idleMs } : {}),
  ...(data.backoffMs !== undefined ? { backoffMs: data.backoffMs } : {}),
  onProgress: (progress) => post({ type: 'progress', progress }),
});

post({ type: 'started' });

port.on('message', (message: ToWorker) => {
  if (message.type === 'wake') shipper.wake();
  else if (message.type === 'drain')
    void shipper
      .drain(message.final, message.timeoutMs)
      .then((complete) => post({ type: 'drained', id: message.id, complete }));
  else if (message.type === 'stop')
    void shipper.stop().finally(() => {
      post({ type: 'stopped' });
      port.close();
    });
});
