import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import type { CallMeter } from '../gateway/call-meter.js';
import { mayBeResponseEvent, parseServerEvent, readRealtimeUsage } from './realtime-usage.js';

/**
 * Above this many bytes queued towards one side, the other side's socket stops being read until
 * the queue has gone out: a slow reader holds back its sender instead of growing the gateway's
 * memory (TCP flow control then reaches the sender).
 */
const HIGH_WATER_BYTES = 1024 * 1024;

/** What a session needs from the gateway. */
export interface RealtimeSessionInit {
  client: WebSocket;
  upstream: WebSocket;
  /** A meter for one response (one record); called when its first event is seen. */
  newMeter: () => CallMeter;
  log: Logger;
  /** Called once when both sockets are closed and every record is committed. */
  onEnd: () => void;
}

/** A relayed session, for the gateway's shutdown. */
export interface RealtimeSession {
  /** Closes both sides (1001 going away) and resolves once the session has ended. */
  close(): Promise<void>;
}

/** One server frame waiting behind a commit, or the upstream's close. */
type Pending = { data: Buffer; binary: boolean } | { close: number; reason: Buffer };

/**
 * Relays one Realtime session: frames both ways unchanged (text stays text, binary stays
 * binary, the payload bytes as received), close codes and reasons both ways. Server text
 * frames are screened for `response.done` (a substring test; only candidates are parsed): its
 * usage is committed as one record BEFORE the frame goes to the client, and the server frames
 * after it wait in order behind the commit (the upstream is paused meanwhile, so the wait holds
 * at most what was already read). A response still running when the session is cut is
 * recorded `partial` with no counts (the provider reported none); nothing is recorded twice.
 * `upstream` must be paused (it is resumed once the relay listens).
 */
export function relayRealtimeSession(init: RealtimeSessionInit): RealtimeSession {
  const { client, upstream, log } = init;
  /** The responses in progress, by `response.id` ('' when the server sent none). */
  const open = new Map<string, CallMeter>();
  let committing = false;
  const queue: Pending[] = [];
  const commits = new Set<Promise<void>>();
  let clientClosed = false;
  let upstreamClosed = false;
  let ended = false;
  let resolveEnd: () => void = () => undefined;
  const endedPromise = new Promise<void>((resolve) => {
    resolveEnd = resolve;
  });

  const upstreamHold = createPauser(upstream);
  const clientHold = createPauser(client);
  const toClient = flowControl(upstreamHold, client);
  const toUpstream = flowControl(clientHold, upstream);

  function track(commit: Promise<void>): Promise<void> {
    const settled = commit.catch((err: unknown) => {
      log.error({ err }, 'realtime usage record could not be committed');
    });
    commits.add(settled);
    void settled.then(() => commits.delete(settled));
    return settled;
  }

  /** Sends one server frame, metering it first when it ends a response. */
  function fromUpstream(data: Buffer, binary: boolean): void {
    if (committing) {
      queue.push({ data, binary });
      return;
    }
    const event = binary ? undefined : readResponseEvent(data);
    if (event?.kind === 'created') {
      if (!open.has(event.id)) open.set(event.id, init.newMeter());
    } else if (event?.kind === 'done') {
      const read = readRealtimeUsage(event.event);
      const meter = open.get(event.id) ?? init.newMeter();
      open.delete(event.id);
      committing = true;
      upstreamHold.hold();
      void track(
        meter.finish({
          status: 200,
          usage: read.usage,
          source: 'reported',
          ...(read.tokenDetails !== undefined ? { tokenDetails: read.tokenDetails } : {}),
          ...(read.invalid ? { flags: ['usage_invalid'] } : {}),
        }),
      ).then(() => {
        committing = false;
        if (clientClosed) upstreamHold.reset();
        else upstreamHold.release();
        toClient.send(data, false);
        drainQueue();
        maybeEnd();
      });
      return;
    }
    toClient.send(data, binary);
  }

  function drainQueue(): void {
    while (!committing && queue.length > 0) {
      const next = queue.shift() as Pending;
      if ('close' in next) closeClientAfterPartials(next.close, next.reason);
      else fromUpstream(next.data, next.binary);
    }
  }

  /** Records every response still open as `partial`, without counts (none were reported). */
  function finishOpen(): Promise<void>[] {
    const finishing = [...open.values()].map((meter) =>
      track(meter.finish({ status: 200, usage: {}, source: 'partial' })),
    );
    open.clear();
    return finishing;
  }

  /**
   * The upstream ended the session: the responses it left open are recorded before the client
   * is told (the same order as a response.done and its commit).
   */
  function closeClientAfterPartials(code: number, reason: Buffer): void {
    const finishing = finishOpen();
    if (finishing.length === 0) {
      closeWith(client, code, reason);
      return;
    }
    committing = true;
    void Promise.all(finishing).then(() => {
      committing = false;
      closeWith(client, code, reason);
      maybeEnd();
    });
  }

  /** Both sides closed and no commit running: whatever is still open is partial; then the end. */
  function maybeEnd(): void {
    if (ended || !clientClosed || !upstreamClosed || committing || queue.length > 0) return;
    ended = true;
    void Promise.all(finishOpen());
    void Promise.all([...commits]).then(() => {
      init.onEnd();
      resolveEnd();
    });
  }

  upstream.on('message', (data: RawData, binary: boolean) => {
    fromUpstream(toBuffer(data), binary);
  });
  client.on('message', (data: RawData, binary: boolean) => {
    toUpstream.send(toBuffer(data), binary);
  });
  upstream.on('close', (code: number, reason: Buffer) => {
    upstreamClosed = true;
    // Nothing will drain towards the upstream any more: the client is read again (its close).
    clientHold.reset();
    // Behind the frames still waiting for a commit, so the client gets them first.
    if (committing) queue.push({ close: code, reason });
    else closeClientAfterPartials(code, reason);
    maybeEnd();
  });
  client.on('close', (code: number, reason: Buffer) => {
    clientClosed = true;
    // Nothing will drain towards the client any more: the upstream is read again (its close
    // reply, and any response.done still to be recorded); a commit in flight keeps its hold.
    if (!committing) upstreamHold.reset();
    // Frames held behind a commit are still read for their usage; they go nowhere.
    closeWith(upstream, code, reason);
    maybeEnd();
  });
  upstream.on('error', (err: Error) => {
    log.warn({ err }, 'realtime upstream socket failed');
  });
  client.on('error', (err: Error) => {
    log.debug({ err }, 'realtime client socket failed');
  });

  // Paused since it opened (dialUpstream): read now that every listener is in place.
  upstream.resume();

  return {
    close() {
      closeWith(client, 1001, Buffer.from('gateway shutting down'));
      closeWith(upstream, 1001, Buffer.from('gateway shutting down'));
      return endedPromise;
    },
  };
}

/** A `response.created` / `response.done` server event, by response id. */
type ResponseEvent =
  { kind: 'created'; id: string } | { kind: 'done'; id: string; event: Record<string, unknown> };

/** The response event a text frame is, if any; only candidate frames (mayBeResponseEvent) are parsed. */
function readResponseEvent(data: Buffer): ResponseEvent | undefined {
  const text = data.toString('utf8');
  if (!mayBeResponseEvent(text)) return undefined;
  const event = parseServerEvent(text);
  if (event === undefined) return undefined;
  const response = event['response'];
  const rawId =
    typeof response === 'object' && response !== null
      ? (response as Record<string, unknown>)['id']
      : undefined;
  const id = typeof rawId === 'string' ? rawId : '';
  if (event['type'] === 'response.created') return { kind: 'created', id };
  if (event['type'] === 'response.done') return { kind: 'done', id, event };
  return undefined;
}

/** Counts a socket's reasons to be paused: it is read again only when none is left. */
interface Pauser {
  hold(): void;
  release(): void;
  /** Drops every hold (the other side is gone) and reads again. */
  reset(): void;
}

function createPauser(socket: WebSocket): Pauser {
  let holds = 0;
  return {
    hold() {
      holds += 1;
      if (holds === 1) socket.pause();
    },
    release() {
      holds = Math.max(0, holds - 1);
      if (holds === 0 && socket.readyState === socket.OPEN) socket.resume();
    },
    reset() {
      holds = 0;
      if (socket.readyState === socket.OPEN) socket.resume();
    },
  };
}

/**
 * Sends frames from `source` to `target`, pausing `source` while `target` has more than
 * HIGH_WATER_BYTES queued and resuming it once that frame has been written.
 */
function flowControl(source: Pauser, target: WebSocket): { send(data: Buffer, binary: boolean): void } {
  let paused = false;
  return {
    send(data, binary) {
      if (target.readyState !== target.OPEN) return;
      const full = target.bufferedAmount + data.length > HIGH_WATER_BYTES;
      if (!full || paused) {
        target.send(data, { binary });
        return;
      }
      paused = true;
      source.hold();
      target.send(data, { binary }, () => {
        paused = false;
        source.release();
      });
    },
  };
}

/**
 * Closes `socket` with the peer's code and reason. The codes a peer may not send (1005: none
 * given, 1006: dropped without a close frame) are mirrored as such: no code, or a cut.
 */
function closeWith(socket: WebSocket, code: number, reason: Buffer): void {
  if (socket.readyState === socket.CLOSED || socket.readyState === socket.CLOSING) return;
  if (socket.readyState === socket.CONNECTING) {
    socket.terminate();
    return;
  }
  if (code === 1006) socket.terminate();
  else if (code === 1005 || !isSendableCode(code)) socket.close();
  else socket.close(code, reason.length <= 123 ? reason : reason.subarray(0, 123));
}

/** Close codes an endpoint may put in a close frame (RFC 6455 §7.4). */
function isSendableCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
