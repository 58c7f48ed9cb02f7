/**
 * Realtime session benchmark: the gateway's added latency per server event of a Realtime
 * session (WebSocket), and per `response.done` (which includes the commit of its record to the
 * ledger before the frame is forwarded).
 *
 * One process holds the upstream and the client, so both ends read the same clock: the
 * upstream stamps each event with its send time, the client subtracts it on receipt. The same
 * session runs twice: straight to the upstream, and through a real `tokenmeter serve` child
 * (SQLite ledger through its outbox, as deployed). The figures are the percentiles of each run
 * and the difference. Bounded: RESPONSES × DELTAS events paced every PACE_MS (a few seconds per run).
 *
 *   npm run build && node --import tsx bench/realtime-bench.ts
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { listen } from '../src/http-listen.js';
import { startGatewayProcess } from '../test/helpers/gateway-process.js';
import { readLedgerRows } from '../test/helpers/ledger-rows.js';

const RESPONSES = Number(process.env.RT_BENCH_RESPONSES ?? 20);
const DELTAS = Number(process.env.RT_BENCH_DELTAS ?? 200);
const PACE_MS = Number(process.env.RT_BENCH_PACE_MS ?? 1);
/** Bytes of audio per delta (base64 of pcm16: 100 ms at 24 kHz is 4800 bytes). */
const AUDIO_BYTES = 4800;
const KEY = 'key-bench-realtime-1';

interface RunResult {
  deltas: number[];
  done: number[];
}

/** The upstream: on each response.create, DELTAS audio deltas then a response.done, each stamped. */
async function startUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true });
  const audio = Buffer.alloc(AUDIO_BYTES, 7).toString('base64');
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(JSON.stringify({ type: 'session.created', session: { id: 'sess_bench' } }));
      let responses = 0;
      ws.on('message', (data: Buffer) => {
        if (!data.toString().includes('response.create')) return;
        const id = `resp_bench_${++responses}`;
        void (async () => {
          ws.send(JSON.stringify({ type: 'response.created', response: { id, status: 'in_progress' } }));
          for (let i = 0; i < DELTAS; i += 1) {
            const t = performance.now();
            ws.send(
              `{"type":"response.output_audio.delta","response_id":"${id}","t":${t},"delta":"${audio}"}`,
            );
            await new Promise((resolve) => setTimeout(resolve, PACE_MS));
          }
          const usage = {
            total_tokens: 300,
            input_tokens: 100,
            output_tokens: 200,
            input_token_details: { text_tokens: 60, audio_tokens: 40, cached_tokens: 0 },
            output_token_details: { text_tokens: 20, audio_tokens: 180 },
          };
          const t = performance.now();
          ws.send(JSON.stringify({ type: 'response.done', t, response: { id, status: 'completed', usage } }));
        })();
      });
    });
  });
  const url = await listen(server, 0, '127.0.0.1');
  return {
    url,
    close: () =>
      new Promise((resolve) => {
        for (const c of wss.clients) c.terminate();
        server.close(() => resolve());
      }),
  };
}

/** One session of RESPONSES responses against `url`; the latency of every event received. */
async function runSession(url: string, headers: Record<string, string>): Promise<RunResult> {
  const ws = new WebSocket(url, { headers, perMessageDeflate: false });
  const result: RunResult = { deltas: [], done: [] };
  let finished: () => void = () => undefined;
  ws.on('message', (data: Buffer) => {
    const now = performance.now();
    const text = data.toString();
    const match = /"t":([0-9.]+)/.exec(text);
    if (match?.[1] === undefined) return;
    const latency = now - Number(match[1]);
    if (text.startsWith('{"type":"response.done"')) {
      result.done.push(latency);
      finished();
    } else result.deltas.push(latency);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  for (let i = 0; i < RESPONSES; i += 1) {
    const done = new Promise<void>((resolve) => (finished = resolve));
    ws.send(JSON.stringify({ type: 'response.create' }));
    await done;
  }
  ws.close();
  await new Promise((resolve) => ws.once('close', resolve));
  return result;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function row(name: string, direct: number[], gateway: number[]): string {
  const f = (v: number): string => v.toFixed(3);
  const p50 = [percentile(direct, 50), percentile(gateway, 50)] as const;
  const p99 = [percentile(direct, 99), percentile(gateway, 99)] as const;
  return (
    `| ${name} | ${gateway.length} | ${f(p50[0])} | ${f(p50[1])} | **${f(p50[1] - p50[0])}** | ` +
    `${f(p99[0])} | ${f(p99[1])} | **${f(p99[1] - p99[0])}** |`
  );
}

async function main(): Promise<void> {
  const upstream = await startUpstream();
  const gw = await startGatewayProcess({
    backends: [{ id: 'up', type: 'openai', url: `${upstream.url}/v1`, apiKey: 'sk-bench' }],
    apis: [{ id: 'openai', path: '/v1', type: 'openai', backend: 'up' }],
    products: [{ id: 'std', apis: ['openai'] }],
    subscriptions: [{ id: 'bench', key: KEY, product: 'std' }],
  });
  try {
    const path = '/v1/realtime?model=gpt-realtime';
    // One warm-up session each way, then the measured ones.
    await runSession(`${upstream.url.replace('http', 'ws')}${path}`, {});
    await runSession(`${gw.url.replace('http', 'ws')}${path}`, { authorization: `Bearer ${KEY}` });
    const started = performance.now();
    const direct = await runSession(`${upstream.url.replace('http', 'ws')}${path}`, {});
    const gateway = await runSession(`${gw.url.replace('http', 'ws')}${path}`, {
      authorization: `Bearer ${KEY}`,
    });
    const seconds = (performance.now() - started) / 1000;
    const records = readLedgerRows(gw.ledgerPath).length;
    console.log(
      `\n## Realtime session (${RESPONSES} responses × ${DELTAS} audio deltas of ${AUDIO_BYTES} bytes, ` +
        `one every ${PACE_MS} ms; ${seconds.toFixed(1)} s measured)\n`,
    );
    console.log(
      '| event | n | direct p50 ms | gateway p50 ms | added p50 | direct p99 ms | gateway p99 ms | added p99 |',
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    console.log(row('output_audio.delta', direct.deltas, gateway.deltas));
    console.log(row('response.done (incl. commit)', direct.done, gateway.done));
    console.log(
      `\nLedger records written: ${records} (expected ${2 * RESPONSES}: warm-up and measured sessions).`,
    );
  } finally {
    await gw.stop();
    await upstream.close();
  }
}

await main();
