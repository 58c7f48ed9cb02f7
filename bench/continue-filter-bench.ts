// What the 100 Continue filter of upstream sockets costs (src/gateway/continue-filter.ts):
// 1. the filter alone, per read, in the three cases of a normal answer: a body read (the
//    filter passes), the first read of an answer (it classifies the status line), and the
//    rarer first read that begins with a 100 (it removes it);
// 2. a read through a socket's push and read, as Node and undici do it, with and without it;
// 3. undici Pools over loopback, with and without the filter, on small answers (calls/s) and
//    a large one (MB/s), interleaved rounds so that machine noise hits both alike.
// Run: node --import tsx bench/continue-filter-bench.ts
import { connect, createServer, type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { ContinueFilter } from '../src/gateway/continue-filter.js';
import { createUpstreamPool, filterContinueAnswers } from '../src/gateway/upstream-socket.js';
import { httpAnswer, startRogueBackend } from '../test/helpers/rogue-backend.js';

const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n');
const HEAD = Buffer.from(
  'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n',
);

/** Nanoseconds per call of `run`, best of five rounds of `n` calls. */
function nsPerCall(n: number, run: (i: number) => unknown): number {
  let best = Infinity;
  let sink = 0;
  for (let round = 0; round < 5; round++) {
    const start = performance.now();
    for (let i = 0; i < n; i++) if (run(i) !== undefined) sink++;
    best = Math.min(best, ((performance.now() - start) * 1e6) / n);
  }
  if (sink < 0) console.log(sink);
  return best;
}

function filterAlone(): void {
  const body = Buffer.alloc(16 * 1024, 0x61);
  const firstRead = Buffer.concat([HEAD, body.subarray(0, 4096)]);
  const withContinue = Buffer.concat([CONTINUE, firstRead]);
  const passing = new ContinueFilter();
  const n = 2_000_000;
  console.log(
    `filter, body read (16 KiB):           ${nsPerCall(n, () => passing.filter(body)).toFixed(1)} ns`,
  );
  const filters = Array.from({ length: n }, () => new ContinueFilter());
  const first = nsPerCall(n, (i) => {
    const f = filters[i] as ContinueFilter;
    f.flush();
    f.requestWritten();
    return f.filter(firstRead);
  });
  console.log(`filter, first read of an answer:      ${first.toFixed(1)} ns`);
  const removing = nsPerCall(n / 4, (i) => {
    const f = filters[i] as ContinueFilter;
    f.flush();
    f.requestWritten();
    return f.filter(withContinue);
  });
  console.log(`filter, first read beginning with 100: ${removing.toFixed(1)} ns`);
}

/**
 * A read as Node hands it over (`push`) and undici takes it (`read`), on a connected socket
 * (an unconnected one queues a listener per read), with and without the filter, alternated.
 */
async function pushAndRead(): Promise<void> {
  const server = createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const body = Buffer.alloc(16 * 1024, 0x61);
  for (const filtered of [false, true, false, true, false, true]) {
    const socket = connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    if (filtered) filterContinueAnswers(socket);
    const ns = nsPerCall(300_000, () => {
      socket.push(body);
      return socket.read() as unknown;
    });
    console.log(
      `push + read of 16 KiB, ${filtered ? 'with the filter:   ' : 'without the filter:'} ${ns.toFixed(1)} ns`,
    );
    socket.destroy();
  }
  server.close();
}

async function pools(): Promise<void> {
  const rogue = await startRogueBackend();
  const small = httpAnswer(200, { 'content-type': 'application/json' }, '{"usage":{"total_tokens":3}}');
  const big = httpAnswer(200, { 'content-type': 'application/json' }, Buffer.alloc(32 * 1024 * 1024, 0x61));
  const options = { connections: 1, keepAliveTimeout: 10_000, headersTimeout: 10_000, bodyTimeout: 10_000 };
  const variants: [string, Pool][] = [
    ['undici Pool', new Pool(rogue.url, { ...options, pipelining: 1 })],
    ['with the filter', createUpstreamPool(rogue.url, options)],
  ];
  const results = new Map<string, { calls: number[]; mbps: number[] }>();
  for (let round = 0; round < 9; round++) {
    for (const [name, pool] of round % 2 === 0 ? variants : [...variants].reverse()) {
      const result = results.get(name) ?? { calls: [], mbps: [] };
      results.set(name, result);
      rogue.script(() => [{ write: small }]);
      const calls = 2000;
      let start = performance.now();
      for (let i = 0; i < calls; i++) {
        const res = await pool.request({ path: '/', method: 'POST', body: '{}' });
        await res.body.arrayBuffer();
      }
      result.calls.push(calls / ((performance.now() - start) / 1000));
      rogue.script(() => [{ write: big }]);
      start = performance.now();
      const res = await pool.request({ path: '/', method: 'POST', body: '{}' });
      let bytes = 0;
      for await (const chunk of res.body) bytes += (chunk as Buffer).length;
      result.mbps.push(bytes / 1e6 / ((performance.now() - start) / 1000));
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  for (const [name, { calls, mbps }] of results)
    console.log(
      `${name.padEnd(16)} small answers: ${median(calls).toFixed(0)} calls/s (rounds ${calls.map((c) => c.toFixed(0)).join(', ')}); ` +
        `32 MB answer: ${median(mbps).toFixed(0)} MB/s (rounds ${mbps.map((m) => m.toFixed(0)).join(', ')})`,
    );
  await Promise.all(variants.map(([, pool]) => pool.close()));
  await rogue.close();
}

filterAlone();
await pushAndRead();
await pools();
