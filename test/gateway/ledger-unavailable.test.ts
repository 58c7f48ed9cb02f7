import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { readLedgerRows } from '../helpers/ledger-rows.js';
import { httpChunk, httpHead, startRogueBackend, type RogueBackend } from '../helpers/rogue-backend.js';
import { makeTempDir } from '../ledger/fixtures/records.js';
import { lockLedger } from '../helpers/ledger-lock.js';

const KEY = 'team-a-key-123';
const silent = pino({ level: 'silent' });

/** The calls tried in each state: every provider family and both answer shapes. */
const CALLS: readonly { name: string; path: string; body: Record<string, unknown> }[] = [
  {
    name: 'openai chat',
    path: '/openai/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
  },
  {
    name: 'openai chat stream',
    path: '/openai/v1/chat/completions',
    body: { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] },
  },
  {
    name: 'openai embeddings',
    path: '/openai/v1/embeddings',
    body: { model: 'text-embedding-3-small', input: 'hi' },
  },
  { name: 'openai responses', path: '/openai/v1/responses', body: { model: 'gpt-4o-mini', input: 'hi' } },
  {
    name: 'anthropic messages',
    path: '/anthropic/v1/messages',
    body: { model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
  },
  {
    name: 'gemini generateContent',
    path: '/gemini/v1beta/models/gemini-2.5-flash:generateContent',
    body: { contents: [{ parts: [{ text: 'hi' }] }] },
  },
];

/** SSE for streamed requests, the rogue default (a JSON chat answer) for the rest. */
function streamingScript(rogue: RogueBackend): void {
  const json = (value: unknown): string => `data: ${JSON.stringify(value)}\n\n`;
  const defaultScript = rogue.script.bind(rogue);
  defaultScript((request) => {
    if (!request.body.toString().includes('"stream":true')) {
      return [
        {
          write: Buffer.from(
            'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 124\r\n\r\n' +
              JSON.stringify({
                id: 'x',
                object: 'chat.completion',
                model: 'gpt-4o-mini',
                choices: [],
                usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
              }).padEnd(124, ' '),
          ),
        },
      ];
    }
    return [
      { write: httpHead(200, { 'content-type': 'text/event-stream', 'transfer-encoding': 'chunked' }) },
      {
        write: httpChunk(
          json({
            id: 's',
            object: 'chat.completion.chunk',
            choices: [{ index: 0, delta: { content: 'hi' } }],
          }),
        ),
      },
      {
        write: httpChunk(
          json({
            id: 's',
            object: 'chat.completion.chunk',
            choices: [],
            usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
          }),
        ),
      },
      { write: httpChunk('data: [DONE]\n\n') },
      { write: httpChunk('') },
    ];
  });
}

describe('gateway while the ledger cannot write', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let rogue: RogueBackend;
  before(async () => {
    ({ dir, cleanup } = await makeTempDir());
    rogue = await startRogueBackend();
    streamingScript(rogue);
  });
  after(async () => {
    await rogue.close();
    await cleanup();
  });

  async function start(
    name: string,
    whenUnavailable: 'serve' | 'refuse',
  ): Promise<{ gw: Gateway; ledgerPath: string }> {
    const ledgerPath = join(dir, `${name}.db`);
    const config = configSchema.parse({
      ledger: { url: `sqlite:${ledgerPath}`, whenUnavailable },
      backends: [
        { id: 'oa', type: 'openai', url: `${rogue.url}/v1`, apiKey: 'sk-backend' },
        { id: 'an', type: 'anthropic', url: rogue.url, apiKey: 'sk-backend' },
        { id: 'ge', type: 'gemini', url: rogue.url, apiKey: 'sk-backend' },
      ],
      apis: [
        { id: 'openai', path: '/openai/v1', type: 'openai', backend: 'oa' },
        { id: 'anthropic', path: '/anthropic', type: 'anthropic', backend: 'an' },
        { id: 'gemini', path: '/gemini', type: 'gemini', backend: 'ge' },
      ],
      products: [{ id: 'std', apis: ['openai', 'anthropic', 'gemini'] }],
      subscriptions: [{ id: 'team-a', key: KEY, product: 'std' }],
    });
    // The gateway's own connection, with a short busy timeout so a held lock fails fast.
    const ledger = createSqliteLedger(ledgerPath, { busyTimeoutMs: 100 });
    const gw = await startGateway(config, { port: 0, logger: silent, ledger });
    return { gw, ledgerPath };
  }

  async function call(gw: Gateway, c: (typeof CALLS)[number]): Promise<{ status: number; code?: string }> {
    const res = await fetch(gw.url + c.path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': KEY },
      body: JSON.stringify(c.body),
    });
    const text = await res.text();
    if (res.status < 400) return { status: res.status };
    return { status: res.status, code: (JSON.parse(text) as { error: { code: string } }).error.code };
  }

  async function readyz(gw: Gateway): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${gw.url}/readyz`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function gauge(gw: Gateway, name: string): Promise<number> {
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return Number(line?.split(' ')[1]);
  }

  it('serve: calls succeed during the outage, their records go to the journal, then into the ledger once', async () => {
    const { gw, ledgerPath } = await start('serve', 'serve');
    assert.deepEqual(await readyz(gw), { status: 200, body: { status: 'ready' } });
    const lock = lockLedger(ledgerPath);
    for (const c of CALLS) assert.equal((await call(gw, c)).status, 200, c.name);
    for (const c of CALLS) assert.equal((await call(gw, c)).status, 200, `${c.name}, again`);
    const down = await readyz(gw);
    assert.equal(down.status, 503);
    assert.equal(down.body['ledger'], 'failing');
    assert.equal(down.body['journalRecords'], CALLS.length * 2);
    assert.equal(await gauge(gw, 'tokenmeter_ledger_writable'), 0);
    assert.equal(await gauge(gw, 'tokenmeter_ledger_journal_pending'), CALLS.length * 2);
    assert.ok(existsSync(`${ledgerPath}.journal`));

    lock.release();
    await gw.records.recover();
    assert.deepEqual(await readyz(gw), { status: 200, body: { status: 'ready' } });
    assert.equal(await gauge(gw, 'tokenmeter_ledger_journal_pending'), 0);
    const rows = readLedgerRows(ledgerPath);
    assert.equal(rows.length, CALLS.length * 2);
    assert.equal(new Set(rows.map((r) => r['id'])).size, rows.length, 'each call once');
    assert.equal(existsSync(`${ledgerPath}.journal`), false);
    await gw.close();
  });

  it('refuse: 503 TM_LEDGER_UNAVAILABLE and nothing forwarded during the outage; /readyz false then true', async () => {
    const { gw, ledgerPath } = await start('refuse', 'refuse');
    const lock = lockLedger(ledgerPath);
    // The call that finds the ledger failing was already answered: its record goes to the journal.
    assert.equal((await call(gw, CALLS[0] ?? assert.fail())).status, 200);
    const forwarded = rogue.requests.length;
    for (const c of CALLS)
      assert.deepEqual(await call(gw, c), { status: 503, code: 'TM_LEDGER_UNAVAILABLE' }, c.name);
    assert.equal(rogue.requests.length, forwarded, 'nothing reached the backend');
    assert.equal((await readyz(gw)).status, 503);
    assert.equal(await gauge(gw, 'tokenmeter_ledger_calls_refused'), CALLS.length);

    lock.release();
    await gw.records.recover();
    assert.deepEqual(await readyz(gw), { status: 200, body: { status: 'ready' } });
    for (const c of CALLS) assert.equal((await call(gw, c)).status, 200, `${c.name}, after`);
    assert.equal(readLedgerRows(ledgerPath).length, 1 + CALLS.length, 'refused calls are not billed');
    await gw.close();
  });

  it('serve: when the journal cannot write either, the answered call is held in memory and new calls are refused', async () => {
    const { gw, ledgerPath } = await start('neither', 'serve');
    const journalPath = `${ledgerPath}.journal`;
    mkdirSync(journalPath); // the journal cannot be created: EISDIR
    const lock = lockLedger(ledgerPath);
    assert.equal((await call(gw, CALLS[1] ?? assert.fail())).status, 200);
    const forwarded = rogue.requests.length;
    assert.deepEqual(await call(gw, CALLS[0] ?? assert.fail()), {
      status: 503,
      code: 'TM_LEDGER_UNAVAILABLE',
    });
    assert.equal(rogue.requests.length, forwarded);
    const down = await readyz(gw);
    assert.equal(down.status, 503);
    assert.equal(down.body['pendingInMemory'], 1);
    assert.equal(await gauge(gw, 'tokenmeter_ledger_retry_pending'), 1);
    assert.ok((await gauge(gw, 'tokenmeter_ledger_journal_write_failures')) >= 1);

    rmdirSync(journalPath);
    await gw.records.recover();
    assert.equal(
      (await call(gw, CALLS[0] ?? assert.fail())).status,
      200,
      'the journal writes: serving again',
    );
    lock.release();
    await gw.records.recover();
    assert.equal((await readyz(gw)).status, 200);
    assert.equal(readLedgerRows(ledgerPath).length, 2);
    await gw.close();
  });

  it('at start-up, a journal left by an earlier run is imported before the first call', async () => {
    const { gw, ledgerPath } = await start('restart', 'serve');
    const lock = lockLedger(ledgerPath);
    for (const c of CALLS) assert.equal((await call(gw, c)).status, 200);
    await gw.close(); // the last attempt fails under the lock: the records stay in the journal
    lock.release();
    assert.equal(readLedgerRows(ledgerPath).length, 0);

    const config = configSchema.parse({
      ledger: `sqlite:${ledgerPath}`,
      backends: [{ id: 'oa', type: 'openai', url: `${rogue.url}/v1` }],
      apis: [{ id: 'openai', path: '/openai/v1', type: 'openai', backend: 'oa' }],
    });
    const again = await startGateway(config, { port: 0, logger: silent });
    assert.equal(readLedgerRows(ledgerPath).length, CALLS.length);
    // A file ledger is written through the outbox: /readyz shows it, with nothing left to ship.
    assert.deepEqual(await readyz(again), {
      status: 200,
      body: { status: 'ready', outbox: { pending: 0, oldestPendingSeconds: 0, target: 'reachable' } },
    });
    await again.close();
  });
});
