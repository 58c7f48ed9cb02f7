import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { createDrainTracker, type DrainTracker } from '../../src/gateway/drain.js';

/**
 * A real HTTP server whose handler waits for the test to release each call; a released call's
 * handling settles only after its response has ended (as the gateway's does after its record).
 */
async function startHeldServer(): Promise<{
  server: Server;
  drain: DrainTracker;
  port: number;
  arrived: () => Promise<void>;
  release: (body: string) => void;
}> {
  const waiting: ((body: string) => void)[] = [];
  const arrivals: (() => void)[] = [];
  const server = createServer((req, res) => {
    const handling = new Promise<void>((resolve) => {
      waiting.push((body) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(body, () => resolve());
      });
      res.once('close', () => resolve());
    });
    drain.track(req, res, handling);
    arrivals.shift()?.();
  });
  const drain = createDrainTracker(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    drain,
    port: (server.address() as AddressInfo).port,
    arrived: () => new Promise((resolve) => arrivals.push(resolve)),
    release: (body) => waiting.shift()?.(body),
  };
}

function get(port: number): Promise<IncomingMessage & { text: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { port, host: '127.0.0.1', path: '/', headers: { connection: 'keep-alive' } },
      (res) => {
        const text = new Promise<string>((done, fail) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => done(body));
          res.on('error', fail);
          res.on('aborted', () => fail(new Error('aborted')));
        });
        resolve(Object.assign(res, { text }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('createDrainTracker on a real HTTP server', () => {
  it('a response begun after the drain started says Connection: close; the drain waits for it', async () => {
    const s = await startHeldServer();
    const arrived = s.arrived();
    const answer = get(s.port);
    await arrived;
    const drained = s.drain.drain(10_000);
    s.release('done');
    const res = await answer;
    assert.equal(res.headers.connection, 'close');
    assert.equal(await res.text, 'done');
    assert.deepEqual(await drained, { inFlight: 1, finished: 1, cut: 0 });
    assert.equal(s.server.listening, false);
  });

  it('at the deadline the calls left are cut (their connection destroyed) and counted', async () => {
    const s = await startHeldServer();
    const arrived = s.arrived();
    const answer = get(s.port).then(
      () => 'answered',
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    );
    await arrived;
    const summary = await s.drain.drain(50);
    assert.deepEqual(summary, { inFlight: 1, finished: 0, cut: 1 });
    assert.match(await answer, /socket hang up|ECONNRESET/);
  });

  it('with nothing in flight the drain ends at once, whatever the timeout', async () => {
    const s = await startHeldServer();
    assert.deepEqual(await s.drain.drain(2_147_483_647), { inFlight: 0, finished: 0, cut: 0 });
  });
});
