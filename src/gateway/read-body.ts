import type { IncomingMessage } from 'node:http';
import { TokenmeterError } from '../errors.js';

/**
 * Reads a request body up to `limit` bytes. A declared or actual size over the limit is
 * TM_BODY_TOO_LARGE (413) — the body is not forwarded.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw new TokenmeterError(
      'TM_BODY_TOO_LARGE',
      `Request body of ${declared} bytes exceeds the limit of ${limit} bytes.`,
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) {
      req.resume();
      throw new TokenmeterError('TM_BODY_TOO_LARGE', `Request body exceeds the limit of ${limit} bytes.`);
    }
    chunks.push(buf);
  }
  return chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks, size);
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
