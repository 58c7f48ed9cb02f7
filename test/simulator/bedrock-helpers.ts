import assert from 'node:assert/strict';
import { BedrockRuntimeClient, type BedrockRuntimeClientConfig } from '@aws-sdk/client-bedrock-runtime';
import { EventStreamCodec, type Message } from '@smithy/eventstream-codec';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { request as httpRequest } from 'node:http';
import { request } from 'undici';

/** Bedrock test helpers: raw calls, event-stream frame splitting and decoding, SDK clients. */

const codec = new EventStreamCodec(toUtf8, fromUtf8);

/** A raw POST; resolves with status, headers and the whole body as bytes. */
export async function postRaw(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; bytes: Buffer }> {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.statusCode, headers: res.headers, bytes: Buffer.from(await res.body.arrayBuffer()) };
}

/**
 * Splits an event-stream body into frames by their total-length preludes, without checking any
 * CRC; `rest` is what is left when the last frame is incomplete.
 */
export function splitFrames(bytes: Uint8Array): { frames: Uint8Array[]; rest: Uint8Array } {
  const frames: Uint8Array[] = [];
  let at = 0;
  while (bytes.length - at >= 4) {
    const length = new DataView(bytes.buffer, bytes.byteOffset + at, 4).getUint32(0);
    if (length < 16 || at + length > bytes.length) break;
    frames.push(bytes.subarray(at, at + length));
    at += length;
  }
  return { frames, rest: bytes.subarray(at) };
}

/** A frame decoded (the codec checks both CRCs and throws on a mismatch). */
export interface DecodedFrame {
  headers: Record<string, string>;
  /** The header names in wire order. */
  headerNames: string[];
  payload: Record<string, unknown>;
}

export function decodeFrame(frame: Uint8Array): DecodedFrame {
  const message: Message = codec.decode(frame);
  const headers: Record<string, string> = {};
  for (const [name, header] of Object.entries(message.headers)) headers[name] = String(header.value);
  return {
    headers,
    headerNames: Object.keys(message.headers),
    payload: JSON.parse(toUtf8(message.body)) as Record<string, unknown>,
  };
}

/** Every frame of a complete, intact event stream, decoded. */
export function decodeStream(bytes: Uint8Array): DecodedFrame[] {
  const { frames, rest } = splitFrames(bytes);
  assert.equal(rest.length, 0, 'no incomplete frame at the end');
  return frames.map(decodeFrame);
}

/** The model event inside an InvokeModelWithResponseStream `chunk` frame. */
export function chunkEvent(frame: DecodedFrame): Record<string, unknown> {
  assert.equal(frame.headers[':event-type'], 'chunk');
  return JSON.parse(Buffer.from(String(frame.payload.bytes), 'base64').toString('utf8')) as Record<
    string,
    unknown
  >;
}

/**
 * An AWS SDK client for `endpoint`. The SDK's default request handler speaks HTTP/2 only
 * (NodeHttp2Handler), which no HTTP/1.1 server answers: the tests pass an HTTP/1.1 handler.
 * Retries are off so that every failure shows. `failMode` adds `x-simulator-fail`.
 */
export function bedrockClient(
  endpoint: string,
  config: Partial<BedrockRuntimeClientConfig> = {},
  failMode?: string,
): BedrockRuntimeClient {
  const client = new BedrockRuntimeClient({
    endpoint,
    region: 'us-east-1',
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler(),
    ...config,
  });
  if (failMode !== undefined) addHeader(client, 'x-simulator-fail', failMode);
  return client;
}

/** Makes every call of `client` carry the header `name: value` (e.g. a simulator option). */
export function addHeader(client: BedrockRuntimeClient, name: string, value: string): BedrockRuntimeClient {
  client.middlewareStack.add(
    (next) => (args) => {
      const req = args.request as { headers?: Record<string, string> };
      if (req.headers !== undefined) req.headers[name] = value;
      return next(args);
    },
    { step: 'build', name: `header-${name}` },
  );
  return client;
}

/** A client that authenticates with a Bedrock API key (Authorization: Bearer). */
export function bearerClient(endpoint: string, key: string, failMode?: string): BedrockRuntimeClient {
  return bedrockClient(
    endpoint,
    { token: { token: key }, authSchemePreference: ['httpBearerAuth'] },
    failMode,
  );
}

/**
 * A raw POST that keeps the bytes received before the connection broke: resolves with them and
 * whether the answer ended cleanly.
 */
export function postUntilCut(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; bytes: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        const done = (complete: boolean) => () =>
          resolve({ status: res.statusCode ?? 0, bytes: Buffer.concat(chunks), complete });
        res.once('end', done(true));
        res.once('aborted', done(false));
        res.once('error', done(false));
      },
    );
    req.once('error', reject);
    req.end(JSON.stringify(body));
  });
}
