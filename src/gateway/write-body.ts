import type { ServerResponse } from 'node:http';

/**
 * Writes a chunk to the client honouring backpressure: a slow client slows the upstream read
 * instead of growing the gateway's memory. Resolves false when the client has gone.
 */
export function writeChunk(res: ServerResponse, chunk: Buffer): Promise<boolean> | boolean {
  if (res.destroyed) return false;
  if (chunk.length === 0 || res.write(chunk)) return true;
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve(!res.destroyed);
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
