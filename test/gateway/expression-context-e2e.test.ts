// Issue #8, items 3 and 4 end to end: an in-process gateway in front of the simulator (every
// API shape), its SQLite ledger read from the file. Each User ID source and each new expression
// context field reaches the ledger; failing expressions take their default without failing
// the call, are counted in /metrics and logged at most once a minute; a spoofed
// X-Forwarded-For is ignored.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import pino from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { MAX_LEDGER_VALUE_CHARS } from '../../src/dimensions/value-cap.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { readLedgerRows, type LedgerRow } from '../helpers/ledger-rows.js';

const KEY = 'key-team-a-0001';
const logLines: Record<string, unknown>[] = [];
let gw: Gateway;
let ledgerPath: string;

before(async () => {
  ledgerPath = join(mkdtempSync(join(tmpdir(), 'tokenmeter-context-')), 'ledger.db');
  const config = configSchema.parse({
    // The test client is 127.0.0.1: not a trusted proxy, so its X-Forwarded-For is not believed.
    gateway: { trustedProxies: ['10.0.0.0/8'] },
    backends: [{ id: 'sim', type: 'simulator', simulator: { completionTokens: 3 } }],
    apis: [
      { id: 'openai', path: '/openai/v1', type: 'openai', backend: 'sim' },
      { id: 'azure', path: '/azure', type: 'azure-openai', backend: 'sim' },
      { id: 'anthropic', path: '/anthropic', type: 'anthropic', backend: 'sim' },
      { id: 'gemini', path: '/gemini', type: 'gemini', backend: 'sim' },
    ],
    products: [{ id: 'std', apis: ['openai', 'azure', 'anthropic', 'gemini'] }],
    subscriptions: [{ id: 'team-a', key: KEY, product: 'std', metadata: { team: 'payments' } }],
    users: { header: 'X-User-Id' },
    tokenMetrics: [
      {
        namespace: 'tm',
        dimensions: [
          'user',
          { name: 'op', value: 'operation.id' },
          { name: 'team', value: 'subscription.metadata.team' },
          { name: 'deployment', value: 'route.params.deployment', default: '-' },
          { name: 'geminiModel', value: 'route.params.model', default: '-' },
          { name: 'version', value: "request.query['api-version']", default: '-' },
          { name: 'alt', value: "('key' in request.query ? 'LEAK:' : '') + request.query.?alt.orValue('-')" },
          { name: 'temperature', value: 'string(request.body.temperature)', default: 'unset' },
          { name: 'n', value: "string(int(request.headers['x-n']))", default: 'nan' },
          { name: 'ratio', value: "string(100 / int(request.headers['x-d']))", default: 'inf' },
        ],
      },
    ],
  });
  const log = pino(
    { level: 'warn' },
    { write: (line: string) => logLines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  gw = await startGateway(config, { port: 0, ledgerUrl: `sqlite:${ledgerPath}`, logger: log });
});

after(async () => {
  await gw.close();
});

/**
 * Sends one call with the subscription key in `api-key` (unless `headerKey` is false) and reads
 * the whole answer: the record is committed before the answer ends.
 */
async function send(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
  headerKey = true,
): Promise<number> {
  const res = await fetch(`${gw.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(headerKey ? { 'api-key': KEY } : {}), ...headers },
    body: JSON.stringify(body),
  });
  await res.text();
  return res.status;
}

/** The newest ledger row (the tests send one call at a time), with its custom dimensions parsed. */
function lastRow(): { row: LedgerRow; custom: Record<string, string> } {
  const row = readLedgerRows(ledgerPath).at(-1) ?? assert.fail('no ledger row');
  return { row, custom: JSON.parse(String(row['custom'])) as Record<string, string> };
}

const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };

async function errorsCounted(dimension: string): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`tokenmeter_dimension_errors_total{dimension="${dimension}"}`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

describe('User ID sources reach the ledger', () => {
  test('body user (OpenAI, through the official SDK)', async () => {
    const client = new OpenAI({ apiKey: KEY, baseURL: `${gw.url}/openai/v1` });
    await client.chat.completions.create({ ...CHAT, user: 'body-user-1' } as never);
    const { row, custom } = lastRow();
    assert.equal(row['user'], 'body-user-1');
    assert.equal(custom['op'], 'chat.completions');
    assert.equal(custom['team'], 'payments');
  });

  test('users.header wins over the body', async () => {
    assert.equal(
      await send('/openai/v1/chat/completions', { ...CHAT, user: 'body' }, { 'x-user-id': 'hdr-7' }),
      200,
    );
    assert.equal(lastRow().row['user'], 'hdr-7');
  });

  test('Anthropic metadata.user_id', async () => {
    const body = {
      model: 'claude-sonnet-4-5',
      max_tokens: 16,
      metadata: { user_id: 'anthropic-user' },
      messages: [{ role: 'user', content: 'hi' }],
    };
    assert.equal(await send('/anthropic/v1/messages', body, { 'anthropic-version': '2023-06-01' }), 200);
    const { row, custom } = lastRow();
    assert.equal(row['user'], 'anthropic-user');
    assert.equal(custom['op'], 'messages');
  });

  test('none: the user stays unset', async () => {
    assert.equal(await send('/openai/v1/chat/completions', CHAT), 200);
    assert.equal(lastRow().row['user'], null);
  });

  test('a users.header value longer than the ledger keeps is cut and the record flagged', async () => {
    const long = 'u'.repeat(MAX_LEDGER_VALUE_CHARS * 3);
    assert.equal(await send('/openai/v1/chat/completions', CHAT, { 'x-user-id': long }), 200);
    const { row } = lastRow();
    assert.equal(String(row['user']).length, MAX_LEDGER_VALUE_CHARS);
    assert.match(String(row['user']), /^u+…\[\+\d+ chars\]$/);
    assert.match(String(row['flags']), /dimension_truncated/);
  });
});

describe('expression context fields reach the ledger', () => {
  test('Azure: route.params.deployment, request.query, request.body', async () => {
    const path = '/azure/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21';
    assert.equal(await send(path, { messages: CHAT.messages, temperature: 0.5 }), 200);
    const { custom } = lastRow();
    assert.equal(custom['deployment'], 'gpt4o-prod');
    assert.equal(custom['version'], '2024-10-21');
    assert.equal(custom['temperature'], '0.5');
    assert.equal(custom['geminiModel'], '-');
  });

  test('Gemini: route.params.model, and request.query without the key', async () => {
    const path = `/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?key=${KEY}&alt=sse`;
    const body = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] };
    assert.equal(await send(path, body, {}, false), 200);
    const { row, custom } = lastRow();
    assert.equal(row['api'], 'gemini');
    assert.equal(custom['geminiModel'], 'gemini-2.5-flash');
    assert.equal(custom['alt'], 'sse', 'the query key never reaches an expression');
    assert.equal(custom['op'], 'streamGenerateContent');
    assert.ok(!String(row['custom']).includes(KEY));
  });
});

describe('bad input', () => {
  test('failing expressions yield their default; the calls succeed, are counted, logged once a minute', async () => {
    const before = { n: await errorsCounted('n'), ratio: await errorsCounted('ratio') };
    const logsBefore = logLines.length;
    for (let i = 0; i < 3; i++) {
      assert.equal(
        await send('/openai/v1/chat/completions', CHAT, { 'x-n': 'not-a-number', 'x-d': '0' }),
        200,
      );
      const { custom } = lastRow();
      assert.equal(custom['n'], 'nan');
      assert.equal(custom['ratio'], 'inf');
    }
    // A missing header is not an error: the default, nothing counted.
    assert.equal(await send('/openai/v1/chat/completions', CHAT), 200);
    assert.equal(lastRow().custom['n'], 'nan');
    assert.equal(await errorsCounted('n'), before.n + 3);
    assert.equal(await errorsCounted('ratio'), before.ratio + 3);
    const logged = logLines.slice(logsBefore);
    assert.deepEqual(
      logged.map((l) => [l['dimension'], l['code']]),
      [
        ['n', 'int_conversion_error'],
        ['ratio', 'division_by_zero'],
      ],
    );
    assert.ok(!JSON.stringify(logged).includes('not-a-number'), 'header values are never logged');
    // A valid value works on the same expression.
    assert.equal(await send('/openai/v1/chat/completions', CHAT, { 'x-n': '42', 'x-d': '4' }), 200);
    assert.equal(lastRow().custom['n'], '42');
    assert.equal(lastRow().custom['ratio'], '25');
  });

  test('a spoofed X-Forwarded-For from an untrusted peer is ignored for ip', async () => {
    assert.equal(await send('/openai/v1/chat/completions', CHAT, { 'x-forwarded-for': '203.0.113.66' }), 200);
    assert.equal(lastRow().row['ip'], '127.0.0.1');
  });

  test('request.body of nested objects and arrays exposes only scalars', async () => {
    const body = { ...CHAT, temperature: { nested: 1 } };
    assert.equal(await send('/openai/v1/chat/completions', body), 200);
    assert.equal(lastRow().custom['temperature'], 'unset');
  });
});
