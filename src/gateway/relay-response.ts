import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { ExtractedUsage, StreamTap } from '../providers/types.js';
import { streamOutcomeUsage, type CallMeter } from './call-meter.js';
import { clientResponseHeaders } from './headers.js';
import { writeChunk } from './write-body.js';

/** One upstream response on its way to the client. */
export interface Relay {
  res: ServerResponse;
  upstream: Dispatcher.ResponseData;
  meter: CallMeter;
  isClientGone: () => boolean;
  promptText: () => string;
  upstreamRequestId?: string;
  log: Logger;
}

function requestIdOf(relay: Relay): { upstreamRequestId?: string } {
  return relay.upstreamRequestId !== undefined ? { upstreamRequestId: relay.upstreamRequestId } : {};
}

/**
 * Relays an SSE stream chunk by chunk as it arrives; the tap reads usage from a copy of each
 * chunk (and drops only the usage chunk the gateway itself asked for). The record is committed
 * before the response is ended, so no metered call outlives its record.
 */
export async function relayStream(relay: Relay, tap: StreamTap): Promise<void> {
  const { res, upstream, meter } = relay;
  const status = upstream.statusCode;
  res.writeHead(status, clientResponseHeaders(upstream.headers, false));
  res.flushHeaders();
  let upstreamCut = false;
  try {
    for await (const chunk of upstream.body) {
      const out = tap.push(chunk as Buffer);
      if (out.length > 0 && !(await writeChunk(res, out))) break;
    }
  } catch (err) {
    if (!relay.isClientGone()) {
      upstreamCut = true;
      relay.log.warn({ err }, 'upstream stream ended abruptly');
    }
  }
  const clientGone = relay.isClientGone();
  const tail = tap.flush();
  const result = tap.result();
  const { usage, source } = streamOutcomeUsage(result, status, clientGone || upstreamCut, relay.promptText);
  await meter.finish({
    status,
    usage,
    source,
    ...(result.responseModel !== undefined ? { responseModel: result.responseModel } : {}),
    ...requestIdOf(relay),
  });
  if (clientGone) {
    upstream.body.destroy();
    return;
  }
  if (upstreamCut) {
    // The client gets what the upstream sent, cut where the upstream cut it.
    if (tail.length > 0) res.write(tail);
    res.destroy();
    return;
  }
  res.end(tail);
}

/**
 * Relays a non-streamed body. Chunks are forwarded as they come, except the latest one, which
 * is held back until the usage is read and the record committed: the client's last byte comes
 * after the commit.
 */
export async function relayJson(relay: Relay, extract: (json: unknown) => ExtractedUsage): Promise<void> {
  const { res, upstream, meter } = relay;
  const status = upstream.statusCode;
  res.writeHead(status, clientResponseHeaders(upstream.headers, true));
  const chunks: Buffer[] = [];
  let held: Buffer | undefined;
  let upstreamCut = false;
  try {
    for await (const chunk of upstream.body) {
      const buf = chunk as Buffer;
      chunks.push(buf);
      if (held !== undefined && !(await writeChunk(res, held))) break;
      held = buf;
    }
  } catch (err) {
    if (!relay.isClientGone()) {
      upstreamCut = true;
      relay.log.warn({ err }, 'upstream body ended abruptly');
    }
  }
  const clientGone = relay.isClientGone();
  const extracted = upstreamCut || clientGone ? undefined : extractFromBody(chunks, extract);
  await meter.finish({
    status,
    usage: extracted?.usage ?? {},
    source: clientGone || upstreamCut ? 'partial' : 'reported',
    ...(extracted?.responseModel !== undefined ? { responseModel: extracted.responseModel } : {}),
    ...requestIdOf(relay),
  });
  if (clientGone) {
    upstream.body.destroy();
    return;
  }
  if (upstreamCut) {
    if (held !== undefined) res.write(held);
    res.destroy();
    return;
  }
  res.end(held);
}

/** Upstream bodies that are not JSON (or not the expected shape) carry no usage; never throws. */
function extractFromBody(chunks: Buffer[], extract: (json: unknown) => ExtractedUsage): ExtractedUsage | undefined {
  if (chunks.length === 0) return undefined;
  try {
    const text = (chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks)).toString('utf8');
    return extract(JSON.parse(text));
  } catch {
    return undefined;
  }
}
