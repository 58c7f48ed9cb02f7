import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { BYTES_PER_TOKEN } from '../../src/providers/estimate.js';
import { readLedgerRows, type LedgerRow } from '../helpers/ledger-rows.js';
import { httpAnswer, startRogueBackend, type RogueBackend } from '../helpers/rogue-backend.js';

/**
 * Issue #7, class 15: a non-streamed answer far larger than the gateway keeps (its member bound)
 * is relayed byte for byte and its usage read; without usage its skipped output is estimated
 * from its size.
 */

const KEY = 'team-large-key-1';
let rogue: RogueBackend;
let gateway: Gateway;
let ledgerPath: string;

before(async () => {
  rogue = await startRogueBackend();
  ledgerPath = join(mkdtempSync(join(tmpdir(), 'tokenmeter-large-')), 'ledger.db');
  const config = configSchema.parse({
    gateway: { host: '127.0.0.1', port: 0 },
    ledger: `sqlite:${ledgerPath}`,
    backends: [{ id: 'rogue', type: 'openai', url: `${rogue.url}/v1`, apiKey: 'sk-up' }],
    apis: [{ id: 'openai', path: '/openai/v1', type: 'openai', backend: 'rogue' }],
    products: [{ id: 'std', apis: ['openai'] }],
    subscriptions: [{ id: 'team-a', key: KEY, product: 'std' }],
  });
  gateway = await startGateway(config, { port: 0, logger: pino({ level: 'silent' }) });
});

after(async () => {
  await gateway.close();
  await rogue.close();
});

/** 16 MB of generated text, with escapes, in one choice. */
const content = 'line of generated text, "quoted" and \\ escaped\n'.repeat(350_000);
const choices = JSON.stringify([{ index: 0, message: { role: 'assistant', content } }]);

async function call(body: Buffer): Promise<LedgerRow> {
  rogue.script(() => [{ write: httpAnswer(200, { 'content-type': 'application/json' }, body) }]);
  const res = await fetch(`${gateway.url}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] }),
  });
  assert.equal(res.status, 200);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(body), 'relayed byte for byte');
  return readLedgerRows(ledgerPath).at(-1) as LedgerRow;
}

test('usage after a 16 MB choices member is read exactly, whatever the member order', async () => {
  const usage = '{"prompt_tokens":11,"completion_tokens":4000000,"total_tokens":4000011}';
  for (const text of [
    `{"id":"c1","model":"gpt-4o-mini-2024","choices":${choices},"usage":${usage}}`,
    `{"usage":${usage},"choices":${choices},"model":"gpt-4o-mini-2024"}`,
  ]) {
    const row = await call(Buffer.from(text));
    assert.equal(row['source'], 'reported');
    assert.equal(row['prompt_tokens'], 11);
    assert.equal(row['completion_tokens'], 4_000_000);
    assert.equal(row['response_model'], 'gpt-4o-mini-2024');
  }
});

test('without usage, the skipped output is estimated at BYTES_PER_TOKEN', async () => {
  const row = await call(Buffer.from(`{"id":"c1","choices":${choices}}`));
  assert.equal(row['source'], 'estimated');
  const member = `"choices":${choices}`;
  assert.equal(row['completion_tokens'], Math.ceil(Buffer.byteLength(member) / BYTES_PER_TOKEN));
});
