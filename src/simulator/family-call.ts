import type { IncomingMessage, ServerResponse } from 'node:http';
import { malformedJson, type FailureMode } from './failures.js';
import type { StreamOutcome } from './sse.js';
import { SimulatorHttpError } from './types.js';

/**
 * What serving one request of a family with its own wire format (Gemini, Cohere, Ollama) needs
 * from the server.
 */
export interface FamilyCall {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** The request body as text. */
  raw: string;
  /** Receives the parsed body (for the request record). */
  onBody: (body: Record<string, unknown>) => void;
  sequence: number;
  completionTokens: number;
  tokensPerSecond: number;
}

/** Parses a request body that must be a JSON object; a 400 otherwise. */
export function parseObjectBody(raw: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new SimulatorHttpError(400, 'invalid character in request body: not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SimulatorHttpError(400, 'the request body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** A JSON object field, or an empty object. */
export function objectField(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** Sends a JSON body with its length. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/**
 * Sends a complete JSON answer, or its failure: `invalid-json` sends malformed JSON,
 * `cut-stream` announces the whole body and drops the connection after half of it. Resolves as
 * the response closes: completed, or aborted by the client.
 */
export function sendJsonAnswer(
  res: ServerResponse,
  body: unknown,
  mode: FailureMode | undefined,
  contentType: string,
): Promise<StreamOutcome> {
  const json = JSON.stringify(body);
  const text = mode === 'invalid-json' || mode === 'cut-stream' ? malformedJson(json) : json;
  return new Promise((resolve) => {
    res.once('close', () => resolve(res.writableFinished ? 'completed' : 'aborted'));
    res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(json) });
    if (mode === 'cut-stream') res.write(text, () => res.destroy());
    else res.end(text);
  });
}
