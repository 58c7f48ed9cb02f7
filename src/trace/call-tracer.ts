import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdminKey } from '../admin/admin-key.js';
import { CallTrace } from './call-trace.js';
import { createTraceRing } from './trace-ring.js';

/** The request header that asks for a trace; its value must be the admin key. */
export const TRACE_HEADER = 'x-tokenmeter-trace';
/** The response header that carries the trace's id. */
export const TRACE_ID_HEADER = 'x-tokenmeter-trace-id';
/** How many traces are kept (the last ones); older ones answer 404. */
export const TRACE_CAPACITY = 1000;

/**
 * Traces the calls that ask for it with the admin key, and keeps the last TRACE_CAPACITY traces
 * in memory (never on disk, gone on restart).
 */
export interface CallTracer {
  /**
   * For a request that carries TRACE_HEADER: removes the header from the request (the admin key
   * reaches no expression, log or backend) and, when its value is the admin key, starts a trace
   * and sets TRACE_ID_HEADER on the response (before any head is written: every answer, error
   * answers included, carries it). Returns undefined, and changes nothing else, for any other
   * value: a wrong key gets the same answer as no header.
   */
  start(req: IncomingMessage, res: ServerResponse, time: number): CallTrace | undefined;
  /** A kept trace, or undefined (unknown or evicted). */
  find(id: string): CallTrace | undefined;
}

export function createCallTracer(
  adminKey: AdminKey,
  options: { claimsRead: readonly string[]; capacity?: number },
): CallTracer {
  const ring = createTraceRing<CallTrace>(options.capacity ?? TRACE_CAPACITY);
  return {
    start(req, res, time) {
      const value = req.headers[TRACE_HEADER];
      delete req.headers[TRACE_HEADER];
      if (!adminKey.matches(Array.isArray(value) ? value[0] : value)) return undefined;
      const trace = new CallTrace(
        randomUUID(),
        time,
        req.method ?? 'GET',
        req.url ?? '/',
        options.claimsRead,
      );
      ring.add(trace.id, trace);
      res.setHeader(TRACE_ID_HEADER, trace.id);
      return trace;
    },
    find(id) {
      return ring.get(id);
    },
  };
}
