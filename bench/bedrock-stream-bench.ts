import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { stringify } from 'yaml';
import { converseAnswer } from '../src/simulator/bedrock-converse.js';
import { EVENTSTREAM_CONTENT_TYPE } from '../src/simulator/bedrock-eventstream.js';
import { startSimulator } from '../src/simulator/index.js';
import { startBareProxy } from './bare-proxy.js';

/**
 * Bedrock ConverseStream through tokenmeter vs a bare pass-through proxy (bare-proxy.ts), each
 * in its own process, with the event stream's binary frames:
 *
 * 1. Added latency per event. A stamping upstream in this process writes the simulator's
 *    ConverseStream frames (bedrock-converse.ts), paced, and notes when it wrote each one; the
 *    client (this process too, so one clock) notes when each whole frame arrived. Per event:
 *    arrival − write, directly, through the bare proxy and through the gateway; the gateway's
 *    added latency per event is its median minus the bare proxy's (and minus direct).
 * 2. Throughput. The simulator (unpaced, in a child process) answers ConverseStream calls from
 *    CONNECTIONS concurrent clients for ROUND_SECONDS, through the bare proxy and the gateway in
 *    alternating rounds; the ratio of completed streams per second is taken per round (two runs
 *    seconds apart on a shared machine) and its median reported.
 *
 *   npm run build && node --import tsx bench/bedrock-stream-bench.ts
 *   BENCH_ROUNDS (default 3)  BENCH_SECONDS (default 5)  BENCH_EVENTS (default 50)
 * Bounded to about a minute. Prints a markdown report on stdout; progress goes to stderr.
 */

const ROUNDS = positive(process.env.BENCH_ROUNDS, 3);
const ROUND_SECONDS = positive(process.env.BENCH_SECONDS, 5);
const EVENTS = positive(process.env.BENCH_EVENTS, 50);
/** Pacing of the latency scenario: one delta every 5 ms. */
const LATENCY_TOKENS_PER_SECOND = 200;
const LATENCY_STREAMS = 4;
const LATENCY_SECONDS = 4;
const CONNECTIONS = 16;
const KEY = 'bench-bedrock-subscription-key';
const MODEL_PATH = `/model/${encodeURIComponent('us.amazon.nova-micro-v1:0')}/converse-stream`;
const BODY = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'Write a short sentence.' }] }] });
const CLI = fileURLToPath(new URL('../bin/tokenmeter.js', import.meta.url));
const SELF = fileURLToPath(import.meta.url);

function positive(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value !== undefined && Number.isFinite(n) && n > 0 ? Math.round(n) : fallback;
}

function progress(message: string): void {
  process.stderr.write(`[bedrock-bench] ${message}\n`);
}

// ---------------------------------------------------------------- child roles

/** `--child simulator` / `--child bare URL…`: a server in its own process, URLs sent over IPC. */
async function runChild(role: string, args: string[]): Promise<void> {
  const closers: (() => Promise<void>)[] = [];
  const urls: string[] = [];
  if (role === 'simulator') {
    const sim = await startSimulator({ completionTokens: EVENTS });
    urls.push(sim.url);
    closers.push(() => sim.close());
  } else {
    for (const upstream of args) {
      const proxy = await startBareProxy(upstream);
      urls.push(proxy.url);
      closers.push(() => proxy.close());
    }
  }
  process.send?.({ urls });
  const stop = (): void => {
    void Promise.all(closers.map((close) => close())).then(() => process.exit(0));
  };
  process.on('message', stop);
  process.on('disconnect', stop);
}

function forkChild(role: string, args: string[]): Promise<{ urls: string[]; child: ChildProcess }> {
  const child = fork(SELF, ['--child', role, ...args], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${role} exited with ${String(code)}`)));
    child.once('message', (m) => resolve({ urls: (m as { urls: string[] }).urls, child }));
  });
}

/** `tokenmeter serve` (dist/) with one Bedrock API per upstream; resolves with its URL. */
function startGateway(upstreams: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const dir = mkdtempSync(join(tmpdir(), 'tokenmeter-bedrock-bench-'));
  const ids = Object.keys(upstreams);
  const config = {
    gateway: { host: '127.0.0.1', port: 0 },
    ledger: `sqlite:${join(dir, 'ledger.db')}`,
    backends: ids.map((id) => ({ id, type: 'bedrock', url: upstreams[id], apiKey: 'bench-upstream-key' })),
    apis: ids.map((id) => ({ id, path: `/${id}`, type: 'bedrock', backend: id })),
    products: [{ id: 'bench', apis: ids }],
    subscriptions: [{ id: 'bench-team', key: KEY, product: 'bench' }],
  };
  const configPath = join(dir, 'tokenmeter.yaml');
  writeFileSync(configPath, stringify(config));
  const child = spawn(process.execPath, [CLI, 'serve', '--config', configPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, TOKENMETER_LOG_LEVEL: 'warn' },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1] !== undefined) resolve({ url: m[1], child });
    });
    child.once('exit', (code) => reject(new Error(`gateway exited with ${String(code)}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    if (child.connected) child.send('stop');
    else child.kill('SIGTERM');
  });
}

// ---------------------------------------------------------------- stamping upstream

/** When the stamping upstream wrote each frame of each stream (performance.now()). */
const written = new Map<string, number[]>();

/** Writes the simulator's ConverseStream frames, one delta every 1/LATENCY_TOKENS_PER_SECOND s. */
function serveStamped(req: IncomingMessage, res: ServerResponse): void {
  const id = String(req.headers['x-bench-stream'] ?? '');
  req.resume();
  req.once('end', () => {
    const answer = converseAnswer(
      {
        modelId: 'us.amazon.nova-micro-v1:0',
        body: JSON.parse(BODY) as Record<string, unknown>,
        sequence: 1,
        completionTokens: EVENTS,
        tokensPerSecond: LATENCY_TOKENS_PER_SECOND,
      },
      true,
    );
    if (answer.kind !== 'stream') throw new Error('expected a stream');
    const frames = [...answer.plan.head, ...answer.plan.steps, ...answer.plan.tail];
    const times: number[] = [];
    written.set(id, times);
    res.writeHead(200, { 'content-type': EVENTSTREAM_CONTENT_TYPE });
    const start = performance.now();
    let next = 0;
    const tick = (): void => {
      const frame = frames[next];
      if (frame === undefined) {
        res.end();
        return;
      }
      times.push(performance.now());
      res.write(frame);
      next++;
      const due = start + (next * 1000) / LATENCY_TOKENS_PER_SECOND;
      setTimeout(tick, Math.max(0, due - performance.now()));
    };
    tick();
  });
}

// ---------------------------------------------------------------- clients

/** Reads one ConverseStream; calls `onFrame(index)` as each whole frame arrives; resolves with the count. */
async function readStream(
  pool: Pool,
  path: string,
  headers: Record<string, string>,
  onFrame?: (index: number) => void,
): Promise<number> {
  const res = await pool.request({
    path,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...headers },
    body: BODY,
  });
  if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}: ${await res.body.text()}`);
  let buffered: Buffer = Buffer.alloc(0);
  let frames = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4) {
      const length = buffered.readUInt32BE(0);
      if (buffered.length < length) break;
      // Counted apart: `onFrame?.(frames++)` skips the increment when there is no callback.
      onFrame?.(frames);
      frames++;
      buffered = buffered.subarray(length);
    }
  }
  return frames;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** LATENCY_STREAMS concurrent clients for LATENCY_SECONDS: each frame's arrival − write, in ms. */
async function measureLatency(origin: string, prefix: string, label: string): Promise<number[]> {
  const pool = new Pool(origin, { connections: LATENCY_STREAMS });
  const lags: number[] = [];
  const deadline = performance.now() + LATENCY_SECONDS * 1000;
  let sequence = 0;
  await Promise.all(
    Array.from({ length: LATENCY_STREAMS }, async () => {
      while (performance.now() < deadline) {
        const id = `${label}-${sequence++}`;
        const arrived: number[] = [];
        await readStream(pool, `${prefix}${MODEL_PATH}`, { 'x-bench-stream': id }, () =>
          arrived.push(performance.now()),
        );
        const sent = written.get(id) ?? [];
        written.delete(id);
        arrived.forEach((t, i) => {
          const w = sent[i];
          if (w !== undefined) lags.push(t - w);
        });
      }
    }),
  );
  await pool.close();
  return lags.sort((a, b) => a - b);
}

/** CONNECTIONS concurrent clients for ROUND_SECONDS: completed streams per second. */
async function measureThroughput(
  origin: string,
  prefix: string,
  seconds = ROUND_SECONDS,
): Promise<{ perSecond: number; events: number }> {
  const pool = new Pool(origin, { connections: CONNECTIONS });
  const start = performance.now();
  const deadline = start + seconds * 1000;
  let streams = 0;
  let events = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < deadline) {
        // Not `events += await …`: that reads `events` before the await and loses the others' adds.
        const frames = await readStream(pool, `${prefix}${MODEL_PATH}`, {});
        events += frames;
        streams++;
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  await pool.close();
  return { perSecond: streams / elapsed, events: events / streams };
}

const median = (values: number[]): number =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
const ms = (value: number): string => value.toFixed(3);

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const stamped = createServer(serveStamped);
  await new Promise<void>((resolve) => stamped.listen(0, '127.0.0.1', resolve));
  const stampedUrl = `http://127.0.0.1:${(stamped.address() as AddressInfo).port}`;
  const children: ChildProcess[] = [];
  try {
    progress('starting the simulator, the bare proxies and tokenmeter serve');
    const sim = await forkChild('simulator', []);
    children.push(sim.child);
    const simUrl = sim.urls[0] ?? '';
    const bare = await forkChild('bare', [stampedUrl, simUrl]);
    children.push(bare.child);
    const gateway = await startGateway({ stamped: stampedUrl, sim: simUrl });
    children.push(gateway.child);
    const [bareStamped = '', bareSim = ''] = bare.urls;

    progress(
      `latency: ${LATENCY_STREAMS} streams of ${EVENTS} deltas at ${LATENCY_TOKENS_PER_SECOND}/s, ${LATENCY_SECONDS} s per target`,
    );
    const latency = {
      direct: await measureLatency(stampedUrl, '', 'direct'),
      bare: await measureLatency(bareStamped, '', 'bare'),
      gateway: await measureLatency(gateway.url, '/stamped', 'gateway'),
    };

    progress(`throughput: ${CONNECTIONS} connections, ${ROUNDS} rounds of ${ROUND_SECONDS} s per target`);
    // One unmeasured second per target first: the JIT warms up the simulator and both proxies.
    await measureThroughput(bareSim, '', 1);
    await measureThroughput(gateway.url, '/sim', 1);
    const rounds: { bare: number; gateway: number; events: number }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order so that neither target always runs on a warmer machine.
      const order = round % 2 === 0 ? (['bare', 'gateway'] as const) : (['gateway', 'bare'] as const);
      const result = { bare: 0, gateway: 0, events: 0 };
      for (const target of order) {
        const r =
          target === 'bare'
            ? await measureThroughput(bareSim, '')
            : await measureThroughput(gateway.url, '/sim');
        result[target] = r.perSecond;
        result.events = r.events;
      }
      rounds.push(result);
      progress(
        `round ${round + 1}: bare ${result.bare.toFixed(0)}/s, gateway ${result.gateway.toFixed(0)}/s`,
      );
    }

    const row = (name: string, lags: number[]): string =>
      `| ${name} | ${lags.length} | ${ms(percentile(lags, 50))} | ${ms(percentile(lags, 90))} | ${ms(percentile(lags, 99))} |`;
    const ratios = rounds.map((r) => r.gateway / r.bare);
    const lines = [
      '## Bedrock ConverseStream: tokenmeter vs a bare proxy',
      '',
      `Per-event latency: time from the upstream writing a frame to the client holding it whole (ms), ${LATENCY_STREAMS} concurrent streams of ${EVENTS} deltas + 4 other events, one delta every ${1000 / LATENCY_TOKENS_PER_SECOND} ms.`,
      '',
      '| path | events | p50 | p90 | p99 |',
      '| --- | ---: | ---: | ---: | ---: |',
      row('direct', latency.direct),
      row('bare proxy', latency.bare),
      row('tokenmeter', latency.gateway),
      '',
      `Gateway's added latency per event (p50): ${ms(percentile(latency.gateway, 50) - percentile(latency.bare, 50))} ms over the bare proxy, ${ms(percentile(latency.gateway, 50) - percentile(latency.direct, 50))} ms over direct.`,
      '',
      `Throughput: unpaced streams of ${rounds[0]?.events.toFixed(0) ?? '?'} frames, ${CONNECTIONS} connections, ${ROUNDS} rounds of ${ROUND_SECONDS} s per target.`,
      '',
      '| round | bare proxy (streams/s) | tokenmeter (streams/s) | ratio |',
      '| ---: | ---: | ---: | ---: |',
      ...rounds.map(
        (r, i) =>
          `| ${i + 1} | ${r.bare.toFixed(0)} | ${r.gateway.toFixed(0)} | ${(r.gateway / r.bare).toFixed(3)} |`,
      ),
      '',
      `Median ratio tokenmeter ÷ bare: ${median(ratios).toFixed(3)} (range ${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)}).`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    for (const child of children.reverse()) await stop(child);
    await new Promise<void>((resolve) => {
      stamped.close(() => resolve());
      stamped.closeAllConnections();
    });
  }
}

const childAt = process.argv.indexOf('--child');
if (childAt !== -1) await runChild(process.argv[childAt + 1] ?? '', process.argv.slice(childAt + 2));
else await main();
