import type { ServerResponse } from 'node:http';
import { TokenmeterError } from '../errors.js';

/** Sends a catalogue error as the JSON error body every OpenAI-style SDK understands. */
export function sendError(res: ServerResponse, err: TokenmeterError): void {
  if (res.headersSent) {
    res.destroy(err);
    return;
  }
  const body = JSON.stringify(err.toJSON());
  res.writeHead(err.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...(err.status === 401 ? { 'www-authenticate': 'Bearer' } : {}),
  });
  res.end(body);
}

/** Sends any thrown value: catalogue errors as they are, anything else as TM_INTERNAL. */
export function sendUnknownError(res: ServerResponse, err: unknown): TokenmeterError {
  const error =
    err instanceof TokenmeterError
      ? err
      : new TokenmeterError('TM_INTERNAL', 'Internal gateway error.', { cause: err });
  sendError(res, error);
  return error;
}
