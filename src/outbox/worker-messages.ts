import type { ShipperDir, ShipProgress } from './outbox-shipper.js';

/** What the main thread hands the outbox worker at start. */
export interface OutboxWorkerData {
  /** The ledger URL the worker opens itself (its own connection). */
  url: string;
  cwd: string;
  dirs: ShipperDir[];
  batchSize?: number;
  idleMs?: number;
  backoffMs?: number;
}

/** Main thread → worker. */
export type ToWorker =
  { type: 'wake' } | { type: 'drain'; id: number; final: boolean; timeoutMs: number } | { type: 'stop' };

/** Worker → main thread. */
export type FromWorker =
  | { type: 'started' }
  | { type: 'progress'; progress: ShipProgress }
  | { type: 'drained'; id: number; complete: boolean }
  | { type: 'stopped' };
