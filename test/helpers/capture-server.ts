import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CAPTURES_DIR } from './paths.js';

/** What the capture server answers to one request. */
export interface CaptureReply {
  file: string;
  /** Replaces the file's bytes (for bodies no capture holds). */
  text?: string;
  status?: number;
  /** Stop after this many bytes and destroy the socket (a stream cut mid-event). */
  cutAfter?: number;
}

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real upstream HTTP server that replays recorded provider responses in small random chunks. */
export interface CaptureServer {
  url: string;
  received: ReceivedRequest[];
  /** Sets the reply to the next requests. */
  reply(next: CaptureReply): void;
  close(): Promise<void>;
}

export function readCapture(file: string): Buffer {
  return readFileSync(join(CAPTURES_DIR, file));
}

export async function startCaptureServer(): Promise<CaptureServer> {
  const received: ReceivedRequest[] = [];
  let current: CaptureReply = { file: 'openai-chat-nonstream.json' };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      });
      const reply = current;
      const bytes = reply.text !== undefined ? Buffer.from(reply.text) : readCapture(reply.file);
      const isStream = reply.file.endsWith('.sse');
      res.writeHead(reply.status ?? 200, {
        'content-type': isStream ? 'text/event-stream; charset=utf-8' : 'application/json',
        'x-request-id': `req_${received.length}`,
      });
      const limit = reply.cutAfter ?? bytes.length;
      let offset = 0;
      const writeNext = (): void => {
        if (offset >= limit) {
          if (reply.cutAfter !== undefined) res.destroy();
          else res.end();
          return;
        }
        const size = Math.min(limit - offset, 1 + Math.floor(Math.random() * 97));
        res.write(bytes.subarray(offset, offset + size));
        offset += size;
        setImmediate(writeNext);
      };
      writeNext();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    reply(next) {
      current = next;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
