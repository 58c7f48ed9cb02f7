// Issue #8, item 6: 100,000 distinct `user` values leave /metrics bounded by each emitter's
// guard and the gateway's heap flat, while `tokenmeter usage --by user` still shows all of them.
//
// 100,000 HTTP calls through the gateway and a simulator take about 100 s on the 2-core test
// machine (measured: 20,000 calls at 32 keep-alive connections in 20.4 s), so most of the flood
// goes through the gateway's real record path instead (`gw.records`, the record sink writing
// the SQLite ledger file and feeding the Prometheus emitters), after a few thousand real calls.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pino from 'pino';
import { Pool } from 'undici';
import { configSchema } from '../../src/config/schema.js';
import { OVERFLOW_VALUE } from '../../src/dimensions/cardinality-guard.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { createRecordIdGenerator } from '../../src/ledger/record-id.js';
import type { UsageRecord } from '../../src/ledger/record.js';
import type { OutboxLedger } from '../../src/outbox/outbox-ledger.js';
import { CLI } from '../helpers/paths.js';

const KEY = 'key-team-flood-01';
const DISTINCT_USERS = 100_000;
const HTTP_CALLS = 3_000;
const CONNECTIONS = 32;
/** Caps of the two emitters. */
const CAP = { tm: 1000, short: 100 } as const;
/** Heap growth allowed between 10,000 and 100,000 distinct values (what is retained per value is 0). */
const HEAP_MARGIN_BYTES = 8 * 1024 * 1024;

// A full collection before each heap reading, so the figures compare live objects only.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

let gw: Gateway;
let ledgerPath: string;

before(async () => {
  ledgerPath = join(mkdtempSync(join(tmpdir(), 'tokenmeter-flood-')), 'ledger.db');
  const config = configSchema.parse({
    backends: [{ id: 'sim', type: 'simulator', simulator: { completionTokens: 2 } }],
    apis: [{ id: 'openai', path: '/openai/v1', type: 'openai', backend: 'sim' }],
    products: [{ id: 'std', apis: ['openai'] }],
    subscriptions: [{ id: 'team-a', key: KEY, product: 'std' }],
    tokenMetrics: [
      // The default cap and window: every value of the flood arrives within one window.
      { namespace: 'tm', dimensions: ['subscription', 'user'] },
      // A small cap over a 1 s window: values are released and replaced all along the flood.
      {
        namespace: 'short',
        dimensions: ['user', 'model'],
        maxValuesPerDimension: 100,
        cardinalityWindow: '1s',
      },
    ],
  });
  gw = await startGateway(config, {
    port: 0,
    ledgerUrl: `sqlite:${ledgerPath}`,
    logger: pino({ level: 'silent' }),
  });
});

after(async () => {
  await gw.close();
});

/** Real calls through the gateway, `count` distinct users from `first`, 32 connections. */
async function sendCalls(first: number, count: number): Promise<void> {
  const pool = new Pool(gw.url, { connections: CONNECTIONS });
  let next = first;
  const end = first + count;
  try {
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (next < end) {
          const user = `user-${next++}`;
          const res = await pool.request({
            method: 'POST',
            path: '/openai/v1/embeddings',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
            body: JSON.stringify({ model: 'text-embedding-3-small', input: 'hello', user }),
          });
          await res.body.text();
          assert.equal(res.statusCode, 200);
        }
      }),
    );
  } finally {
    await pool.close();
  }
}

/** Records as the gateway builds them for such a call, through its record sink, 500 at a time. */
async function commitRecords(first: number, count: number): Promise<void> {
  const nextId = createRecordIdGenerator();
  for (let start = first; start < first + count; start += 500) {
    const batch: Promise<void>[] = [];
    for (let i = start; i < Math.min(start + 500, first + count); i++) {
      const now = Date.now();
      const record: UsageRecord = {
        id: nextId(now),
        time: now,
        api: 'openai',
        operation: 'embeddings',
        product: 'std',
        subscription: 'team-a',
        user: `user-${i}`,
        gateway: 'gateway-1',
        location: 'local',
        backend: 'sim',
        model: 'text-embedding-3-small',
        provider: 'simulator',
        stream: false,
        custom: {},
        source: 'reported',
        status: 200,
        latencyMs: 1,
        promptTokens: 2,
        totalTokens: 2,
      };
      batch.push(gw.records.commit(record));
    }
    await Promise.all(batch);
  }
}

interface Exposition {
  /** Distinct `user` label values per namespace, in `<ns>_requests_total`. */
  users: Record<string, Set<string>>;
  lines: number;
  bytes: number;
}

async function scrape(): Promise<Exposition> {
  const res = await fetch(`${gw.url}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  const users: Record<string, Set<string>> = { tm: new Set(), short: new Set() };
  for (const line of text.split('\n')) {
    const ns = line.startsWith('tm_requests_total{')
      ? 'tm'
      : line.startsWith('short_requests_total{')
        ? 'short'
        : '';
    if (ns === '') continue;
    const user = /user="([^"]*)"/.exec(line)?.[1];
    if (user !== undefined) users[ns]?.add(user);
  }
  return { users, lines: text.split('\n').length, bytes: Buffer.byteLength(text) };
}

function heapUsed(): number {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

/** /metrics holds at most the cap of each emitter plus `__other__`. */
function assertBounded(e: Exposition): void {
  for (const ns of ['tm', 'short'] as const) {
    const users = e.users[ns] ?? new Set();
    assert.ok(users.size <= CAP[ns] + 1, `${ns}: ${users.size} user series`);
    assert.ok(users.has(OVERFLOW_VALUE), `${ns}: the overflow is folded into __other__`);
  }
  for (const emitter of gw.metrics.emitters) {
    const cap = CAP[emitter.namespace as keyof typeof CAP];
    assert.ok((emitter.heldValues().user ?? 0) <= cap);
    assert.ok(emitter.seriesCount <= cap + 1, `${emitter.namespace}: ${emitter.seriesCount} series`);
  }
}

test('100,000 distinct users: /metrics bounded, heap flat, the ledger has every one', async () => {
  const started = performance.now();
  await sendCalls(0, HTTP_CALLS);
  await commitRecords(HTTP_CALLS, 10_000 - HTTP_CALLS);
  const at10k = await scrape();
  assertBounded(at10k);
  assert.equal(at10k.users.tm?.has('user-0'), true, 'the first values hold their slots for the window');
  const heapAt10k = heapUsed();

  await commitRecords(10_000, DISTINCT_USERS - 10_000);
  const at100k = await scrape();
  assertBounded(at100k);
  const heapAt100k = heapUsed();
  const growth = heapAt100k - heapAt10k;
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `flood: ${DISTINCT_USERS} distinct users (${HTTP_CALLS} over HTTP) in ${seconds.toFixed(1)} s; ` +
      `heap ${(heapAt10k / 2 ** 20).toFixed(1)} MiB at 10k, ${(heapAt100k / 2 ** 20).toFixed(1)} MiB at 100k; ` +
      `/metrics ${at100k.lines} lines, ${at100k.bytes} bytes`,
  );
  assert.ok(growth < HEAP_MARGIN_BYTES, `heap grew by ${growth} bytes from 10k to 100k distinct users`);
  assert.ok(Math.abs(at100k.bytes - at10k.bytes) < at10k.bytes, '/metrics did not grow with the flood');

  // Each emitter counted every call, named or folded.
  const total = await gw.metrics.registry.getSingleMetric('tm_requests_total')?.get();
  assert.equal(
    total?.values.reduce((n, v) => n + v.value, 0),
    DISTINCT_USERS,
  );
  const overflow = (
    await gw.metrics.registry.getSingleMetric('tokenmeter_metric_label_overflow_total')?.get()
  )?.values;
  const folded = (ns: string): number | undefined =>
    overflow?.find((v) => v.labels['namespace'] === ns && v.labels['label'] === 'user')?.value;
  assert.equal(folded('tm'), DISTINCT_USERS - CAP.tm);
  assert.ok((folded('short') ?? 0) > 0);

  // The ledger keeps every true value: the CLI groups all 100,000 (once the gateway's outbox has
  // shipped them into the file: its worker runs behind a flood of commits, docs/outbox.md).
  const { outbox } = gw.ledger as OutboxLedger;
  assert.equal(await outbox.catchUp(120_000), true);
  const res = spawnSync(
    process.execPath,
    [CLI, 'usage', '--ledger', `sqlite:${ledgerPath}`, '--by', 'user', '--format', 'json'],
    { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 120_000 },
  );
  assert.equal(res.status, 0, res.stderr);
  const rows = JSON.parse(res.stdout) as { user: string; requests: number }[];
  assert.equal(rows.length, DISTINCT_USERS);
  assert.equal(new Set(rows.map((r) => r.user)).size, DISTINCT_USERS);
  assert.ok(rows.every((r) => r.requests === 1 && r.user.startsWith('user-')));
});
