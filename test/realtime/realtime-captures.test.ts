import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runInNewContext } from 'node:vm';
import { WebSocket } from 'ws';
import { readRealtimeUsage, parseServerEvent } from '../../src/realtime/realtime-usage.js';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { readLedgerRows } from '../helpers/ledger-rows.js';
import { closed, startScriptedUpstream, type ScriptedUpstream } from './realtime-helpers.js';

/**
 * Real recorded Realtime sessions (test/fixtures/captures/realtime/INDEX.md), replayed from a
 * test upstream through a real `tokenmeter serve`: whole, and with every message cut into
 * WebSocket fragments at random points (the relay must reassemble them, meter once and hand the
 * client the same message bytes).
 */

const CAPTURES = join(import.meta.dirname, '..', 'fixtures', 'captures', 'realtime');
const KEY = 'key-team-captures-1';

/**
 * The server events of liusida/dictionary's log: Node's console.log of each parsed event
 * (util.inspect notation, one object per block starting at column 0). Evaluated as the object
 * literals they are, in an empty context; nested objects the log elided (`[Object]`) stay
 * elided (they serialise as `[null]`), so that response.done's token details are not known.
 */
function liusidaFrames(): string[] {
  const text = readFileSync(join(CAPTURES, 'liusida-dictionary-text-response.log'), 'utf8');
  const frames: string[] = [];
  let block: string[] | undefined;
  for (const line of text.split('\n')) {
    if (line === '{') block = [line];
    else if (block !== undefined) {
      block.push(line);
      if (line === '}') {
        frames.push(JSON.stringify(runInNewContext(`(${block.join('\n')})`, {})));
        block = undefined;
      }
    }
  }
  return frames;
}

const frames = liusidaFrames();

let upstream: ScriptedUpstream;
let gw: GatewayProcess;
/** How the upstream sends each message: whole, or cut into fragments by this. */
let splitter: ((message: Buffer) => Buffer[]) | undefined;

before(async () => {
  upstream = await startScriptedUpstream((ws) => {
    const split = splitter;
    for (const frame of frames) {
      const bytes = Buffer.from(frame);
      const parts = split === undefined ? [bytes] : split(bytes);
      parts.forEach((part, i) => ws.send(part, { binary: false, fin: i === parts.length - 1 }));
    }
  });
  gw = await startGatewayProcess({
    backends: [{ id: 'replay', type: 'openai', url: `${upstream.url}/v1`, apiKey: 'sk-replay' }],
    apis: [{ id: 'openai', path: '/v1', type: 'openai', backend: 'replay' }],
    products: [{ id: 'std', apis: ['openai'] }],
    subscriptions: [{ id: 'team-captures', key: KEY, product: 'std' }],
  });
});

after(async () => {
  await gw.stop();
  await upstream.close();
});

/** Opens a session, collects every message until response.done, closes; resolves with them. */
async function replay(): Promise<{ data: Buffer; binary: boolean }[]> {
  const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/v1/realtime?model=gpt-4o-realtime-preview`, {
    headers: { authorization: `Bearer ${KEY}` },
  });
  const received: { data: Buffer; binary: boolean }[] = [];
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (data: Buffer, binary: boolean) => {
      received.push({ data, binary });
      if (received.length === frames.length) resolve();
    });
    ws.once('error', reject);
  });
  ws.close();
  await closed(ws);
  return received;
}

/** A seeded generator (mulberry32), so a failing split can be replayed from its seed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('the capture holds a whole text response and its response.done usage (72 in, 79 out, 151)', () => {
  assert.equal(frames.length, 85);
  const done = parseServerEvent(frames.at(-1) as string);
  assert.equal(done?.['type'], 'response.done');
  const read = readRealtimeUsage(done);
  assert.deepEqual(read.usage, { promptTokens: 72, completionTokens: 79, totalTokens: 151 });
  // The log elided the detail objects: nothing is invented for them.
  assert.equal(read.tokenDetails, undefined);
  assert.equal(read.status, 'completed');
});

test('replayed whole through the gateway: every message unchanged, one record with the reported counts', async () => {
  splitter = undefined;
  const before = readLedgerRows(gw.ledgerPath).length;
  const received = await replay();
  assert.deepEqual(
    received.map((m) => m.data.toString()),
    frames,
  );
  assert.ok(received.every((m) => !m.binary));
  const rows = readLedgerRows(gw.ledgerPath).slice(before);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]?.['operation'], 'realtime');
  assert.equal(rows[0]?.['model'], 'gpt-4o-realtime-preview');
  assert.equal(rows[0]?.['prompt_tokens'], 72);
  assert.equal(rows[0]?.['completion_tokens'], 79);
  assert.equal(rows[0]?.['total_tokens'], 151);
  assert.equal(rows[0]?.['source'], 'reported');
});

test('replayed with every message cut into fragments at random points: the same bytes, still one record', async () => {
  for (const seed of [1, 2, 3]) {
    const next = random(seed);
    splitter = (message) => {
      const parts: Buffer[] = [];
      let start = 0;
      while (start < message.length) {
        const size = 1 + Math.floor(next() * Math.max(1, message.length / 3));
        parts.push(message.subarray(start, start + size));
        start += size;
      }
      return parts;
    };
    const before = readLedgerRows(gw.ledgerPath).length;
    const received = await replay();
    assert.deepEqual(
      received.map((m) => m.data.toString()),
      frames,
      `seed ${seed}`,
    );
    const rows = readLedgerRows(gw.ledgerPath).slice(before);
    assert.equal(rows.length, 1, `seed ${seed}`);
    assert.equal(rows[0]?.['prompt_tokens'], 72, `seed ${seed}`);
    assert.equal(rows[0]?.['completion_tokens'], 79, `seed ${seed}`);
  }
});
