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
  /** How long a hold lasts at most before the worker releases it by itself (default HOLD_MAX_MS). */
  holdMaxMs?: number;
}

/**
 * A hold lasts at most this long, milliseconds: the worker then ships again by itself, so a main
 * thread that never sends `release` (stuck, or a bug) cannot stop shipping for good.
 */
export const HOLD_MAX_MS = 5000;

/**
 * Main thread → worker.
 *
 * `hold`: ship this process's journal lines until exactly `upTo` of them are dealt with, then stop
 * shipping and answer `held` (a consistent read: the ledger holds exactly the first `upTo` lines
 * of this process, outbox-ledger.ts `readConsistent`). The same id again moves the hold's target.
 * `release` ends the hold of that id.
 */
export type ToWorker =
  | { type: 'wake' }
  | { type: 'drain'; id: number; final: boolean; timeoutMs: number }
  | { type: 'hold'; id: number; upTo: number }
  | { type: 'release'; id: number }
  | { type: 'stop' };

/**
 * Worker → main thread. `held`: shipping stopped with `handled` of this process's lines dealt
 * with: `upTo` exactly, more when the worker had shipped past `upTo` before the hold arrived
 * (it stops at once then), fewer when the hold ended before reaching it (self-release).
 */
export type FromWorker =
  | { type: 'started' }
  | { type: 'progress'; progress: ShipProgress }
  | { type: 'drained'; id: number; complete: boolean }
  | { type: 'held'; id: number; handled: number }
  | { type: 'stopped' };
