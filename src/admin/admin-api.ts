import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBearerToken } from '../auth/client-credentials.js';
import { TokenmeterError } from '../errors.js';
import { sendError } from '../gateway/send-error.js';
import { TRACE_CAPACITY, type CallTracer } from '../trace/call-tracer.js';
import type { AdminKey } from './admin-key.js';

/**
 * The admin API, under `/admin` (a prefix no API may claim: config/validate-references.ts).
 * Every request needs `Authorization: Bearer <admin.key>`; without an `admin.key` in the
 * configuration the whole API is closed. Nothing here is logged.
 *
 * - `GET /admin/traces/{id}`: the trace of a call made with `x-tokenmeter-trace` (TraceJson).
 */
export interface AdminApi {
  /** Whether the request target is the admin API's: `/admin`, `/admin/…` or `/admin?…`. */
  serves(url: string): boolean;
  /** Answers one admin request (401 TM_UNAUTHORIZED, 404 TM_NOT_FOUND or the JSON asked for). */
  handle(req: IncomingMessage, res: ServerResponse): void;
}

const PREFIX = '/admin';
const TRACE_PATH = /^\/admin\/traces\/([^/]+)$/;

export function createAdminApi(adminKey: AdminKey, tracer: Pick<CallTracer, 'find'>): AdminApi {
  return {
    serves(url) {
      if (!url.startsWith(PREFIX)) return false;
      const next = url.charAt(PREFIX.length);
      return next === '' || next === '/' || next === '?';
    },
    handle(req, res) {
      const refusal = checkAdminKey(adminKey, req);
      if (refusal !== undefined) {
        sendError(res, refusal);
        return;
      }
      const path = (req.url ?? '/').split('?')[0] ?? '';
      const id = TRACE_PATH.exec(path)?.[1];
      if (id === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) {
        sendError(
          res,
          new TokenmeterError('TM_NOT_FOUND', `No admin endpoint ${req.method ?? 'GET'} ${path}.`),
        );
        return;
      }
      const trace = tracer.find(id);
      if (trace === undefined) {
        sendError(
          res,
          new TokenmeterError(
            'TM_NOT_FOUND',
            `No such trace: the id is unknown, or the trace was evicted (the last ${TRACE_CAPACITY} are kept).`,
          ),
        );
        return;
      }
      const body = JSON.stringify(trace);
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        // A trace changes until its call ends, and names who called: no cache may keep it.
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    },
  };
}

/** TM_UNAUTHORIZED unless the request carries the configured admin key as a Bearer token. */
function checkAdminKey(adminKey: AdminKey, req: IncomingMessage): TokenmeterError | undefined {
  if (!adminKey.configured)
    return new TokenmeterError(
      'TM_UNAUTHORIZED',
      'The admin API is disabled: no admin.key is configured on this gateway.',
    );
  if (!adminKey.matches(readBearerToken(req.headers)))
    return new TokenmeterError(
      'TM_UNAUTHORIZED',
      'Missing or wrong admin key: send it as Authorization: Bearer <admin.key>.',
    );
  return undefined;
}
