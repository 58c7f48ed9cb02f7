import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { Client } from 'undici';

/**
 * The memory scenario of the benchmark (issue #7, class 15): large non-streamed JSON answers
 * through each proxy, one after another, and the peak resident memory of each proxy process.
 */

/** A running upstream that answers every request with one large chat completion. */
export interface LargeAnswerServer {
  url: string;
  close(): Promise<void>;
}

const PIECE = Buffer.from(
  'generated text of a very long answer, with "quotes" and \\ escapes\\n '.repeat(1024),
);

/**
 * Starts an upstream whose answer is a chat completion of `megabytes` MB: the content is written
 * piece by piece (the server never holds the answer), usage comes last, as OpenAI sends it.
 */
export async function startLargeAnswerServer(megabytes: number): Promise<LargeAnswerServer> {
  const pieces = Math.max(1, Math.round((megabytes * 1024 * 1024) / PIECE.length));
  const head = Buffer.from(
    '{"id":"chatcmpl-large","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"',
  );
  const tail = Buffer.from(
    '"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":1000000,"total_tokens":1000012}}',
  );
  const length = head.length + pieces * PIECE.length + tail.length;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(length) });
      res.write(head);
      let sent = 0;
      const more = (): void => {
        while (sent < pieces) {
          sent += 1;
          if (!res.write(PIECE)) {
            res.once('drain', more);
            return;
          }
        }
        res.end(tail);
      };
      more();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Resident memory of a process from /proc, MB: now (VmRSS) and the peak since the last reset (VmHWM). */
export function residentMemory(pid: number): { rssMb: number; peakMb: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string): number =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** Resets the peak (VmHWM) of a process to its current RSS (Linux: clear_refs 5); false when not possible. */
export function resetPeakMemory(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** The memory of one proxy over the scenario. */
export interface MemoryResult {
  /** RSS before the first call, MB. */
  beforeMb: number;
  /** Peak RSS during the calls, MB. */
  peakMb: number;
  /** Seconds per call (median would need more calls: the mean). */
  secondsPerCall: number;
  /** Calls that did not end with a 200 and the whole body. */
  failed: number;
}

/**
 * Sends `calls` requests one after another to `url` and reads every answer to its end, then
 * reports the peak RSS of process `pid` over them (reset first, so earlier load does not count).
 */
export async function measureLargeAnswers(
  url: string,
  pid: number,
  options: { calls: number; body: string; headers: Record<string, string> },
): Promise<MemoryResult | undefined> {
  const before = residentMemory(pid);
  if (before === undefined || !resetPeakMemory(pid)) return undefined;
  const target = new URL(url);
  const client = new Client(target.origin, { bodyTimeout: 120_000, headersTimeout: 120_000 });
  let failed = 0;
  const start = performance.now();
  try {
    for (let i = 0; i < options.calls; i++) {
      const res = await client.request({
        path: target.pathname,
        method: 'POST',
        headers: options.headers,
        body: options.body,
      });
      let bytes = 0;
      for await (const chunk of res.body) bytes += (chunk as Buffer).length;
      if (res.statusCode !== 200 || bytes === 0) failed++;
    }
  } finally {
    await client.close();
  }
  const after = residentMemory(pid);
  if (after === undefined) return undefined;
  return {
    beforeMb: before.rssMb,
    peakMb: after.peakMb,
    secondsPerCall: (performance.now() - start) / 1000 / options.calls,
    failed,
  };
}
