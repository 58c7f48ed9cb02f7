import type { IncomingMessage } from 'node:http';
import { TokenmeterError } from '../errors.js';

/**
 * Reads a request body up to `limit` bytes. A declared or actual size over the limit is
 * TM_BODY_TOO_LARGE (413) — the body is not forwarded.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(
      new TokenmeterError(
        'TM_BODY_TOO_LARGE',
        `Request body of ${declared} bytes exceeds the limit of ${limit} bytes.`,
      ),
    );
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume();
        reject(new TokenmeterError('TM_BODY_TOO_LARGE', `Request body exceeds the limit of ${limit} bytes.`));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () =>
      resolve(chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks, size)),
    );
    // e.g. ECONNRESET: the client went away mid-body. A client error, not a gateway failure.
    req.once('error', (err) =>
      reject(new TokenmeterError('TM_BAD_REQUEST', 'The request body could not be read.', { cause: err })),
    );
    // A client that goes away mid-body: settle instead of waiting for an 'end' that never comes.
    req.once('close', () => {
      if (!req.complete) {
        reject(
          new TokenmeterError(
            'TM_BAD_REQUEST',
            'The client closed the connection before sending the whole body.',
          ),
        );
      }
    });
  });
}

/** Parses a client JSON body; malformed JSON is TM_BAD_JSON (400) and nothing is forwarded. */
export function parseJsonBody(raw: Buffer): unknown {
  if (raw.length === 0)
    throw new TokenmeterError('TM_BAD_JSON', 'Request body is empty; a JSON object is expected.');
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new TokenmeterError('TM_BAD_JSON', `Request body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new TokenmeterError('TM_BAD_JSON', 'Request body must be a JSON object.');
  }
  return parsed;
}
