// Defect class 1 of issue #7: any valid key could break /metrics with huge dimension values,
// and any tenant could spend the cardinality budget. A real in-process gateway, the simulator
// (every provider) and a rogue backend (refusals) as upstreams; the ledger is read from its file.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { OVERFLOW_VALUE } from '../../src/dimensions/cardinality-guard.js';
import {
  capLabelValue,
  capLedgerValue,
  MAX_LABEL_VALUE_CHARS,
  MAX_LEDGER_VALUE_CHARS,
} from '../../src/dimensions/value-cap.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { readLedgerRows, type LedgerRow } from '../helpers/ledger-rows.js';
import { httpAnswer, startRogueBackend, type RogueBackend } from '../helpers/rogue-backend.js';

const KEYS = { a: 'key-team-a-0001', b: 'key-team-b-0002' };
const MIB = 1024 * 1024;
/** What a scrape may weigh at most here: a few dozen series of capped labels. */
const MAX_SCRAPE_BYTES = 64 * 1024;

let sim: Simulator;
let rogue: RogueBackend;
let gw: Gateway;
let ledgerPath: string;

before(async () => {
  sim = await startSimulator({ completionTokens: 3 });
  rogue = await startRogueBackend();
  ledgerPath = join(mkdtempSync(join(tmpdir(), 'tokenmeter-labels-')), 'ledger.db');
  const config = configSchema.parse({
    gateway: { maxBodyBytes: 64 * MIB },
    backends: [
      { id: 'sim', type: 'openai', url: `${sim.url}/v1`, apiKey: 'sk-up' },
      { id: 'aoai', type: 'azure-openai', url: sim.url, apiKey: 'az-up' },
      { id: 'claude', type: 'anthropic', url: sim.url, apiKey: 'ant-up' },
      { id: 'google', type: 'gemini', url: sim.url, apiKey: 'goog-up' },
      { id: 'rogue', type: 'openai', url: `${rogue.url}/v1`, apiKey: 'sk-up' },
    ],
    apis: [
      { id: 'openai', path: '/openai/v1', type: 'openai', backend: 'sim' },
      { id: 'azure', path: '/azure', type: 'azure-openai', backend: 'aoai' },
      { id: 'anthropic', path: '/anthropic', type: 'anthropic', backend: 'claude' },
      { id: 'gemini', path: '/gemini', type: 'gemini', backend: 'google' },
      { id: 'rogue', path: '/rogue/v1', type: 'openai', backend: 'rogue' },
    ],
    products: [{ id: 'std', apis: ['openai', 'azure', 'anthropic', 'gemini', 'rogue'] }],
    subscriptions: [
      { id: 'team-a', key: KEYS.a, product: 'std' },
      { id: 'team-b', key: KEYS.b, product: 'std' },
    ],
    tokenMetrics: [
      {
        namespace: 'tm',
        dimensions: [
          'api',
          'subscription',
          'model',
          'responseModel',
          'user',
          { name: 'team', value: "request.headers['x-team']" },
        ],
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
  await sim.close();
  await rogue.close();
});

interface Call {
  path: string;
  body: unknown;
  key?: string;
  headers?: Record<string, string>;
}

/** Sends one call and reads its whole answer; returns the status. */
async function send(call: Call): Promise<number> {
  const key = call.key ?? KEYS.a;
  const res = await fetch(gw.url + call.path, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${key}`,
      'x-api-key': key,
      'x-goog-api-key': key,
      'anthropic-version': '2023-06-01',
      ...call.headers,
    },
    body: JSON.stringify(call.body),
  });
  await res.arrayBuffer();
  return res.status;
}

interface Scrape {
  bytes: number;
  ms: number;
  /** Every `tm_requests_total` sample: its labels and value. */
  requests: { labels: Record<string, string>; value: number }[];
  text: string;
}

async function scrape(): Promise<Scrape> {
  const started = performance.now();
  const res = await fetch(`${gw.url}/metrics`);
  const text = await res.text();
  const ms = performance.now() - started;
  assert.equal(res.status, 200, 'the scrape succeeds');
  const requests = text
    .split('\n')
    .filter((line) => line.startsWith('tm_requests_total{'))
    .map((line) => ({ labels: parseLabels(line), value: Number(line.slice(line.lastIndexOf(' ') + 1)) }));
  return { bytes: Buffer.byteLength(text), ms, requests, text };
}

/** The labels of one exposition line (values unescaped). */
function parseLabels(line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const inner = line.slice(line.indexOf('{') + 1, line.lastIndexOf('}'));
  for (const m of inner.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
    const [, name = '', raw = ''] = m;
    labels[name] = raw.replace(/\\(.)/g, (_all, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

/** Every label value of every sample is within the cap; the scrape is small and quick. */
function assertBounded(s: Scrape): void {
  assert.ok(s.bytes < MAX_SCRAPE_BYTES, `scrape of ${s.bytes} bytes`);
  assert.ok(s.ms < 2000, `scrape took ${Math.round(s.ms)} ms`);
  for (const { labels } of s.requests)
    for (const [name, value] of Object.entries(labels))
      assert.ok(value.length <= MAX_LABEL_VALUE_CHARS, `label ${name} has ${value.length} characters`);
}

function rowsWhere(pred: (row: LedgerRow) => boolean): LedgerRow[] {
  return readLedgerRows(ledgerPath).filter(pred);
}

function flagsOf(row: LedgerRow | undefined): string[] {
  return typeof row?.flags === 'string' ? row.flags.split(',') : [];
}

/** A value of `length` characters that starts with a distinct tag. */
function huge(tag: string, length: number): string {
  return tag + 'x'.repeat(length - tag.length);
}

/**
 * The label a value gets: the record holds the ledger's cut, and the label is that cut, capped
 * (its marker counts the characters beyond the label's cut of the ledger value).
 */
function labelOf(value: string): string {
  return capLabelValue(capLedgerValue(value));
}

const messages = [{ role: 'user', content: 'hello' }];

describe('huge dimension values never reach a metric, and the ledger keeps 1024 characters', () => {
  test('a dozen calls with multi-megabyte models, every operation, streamed or not', async () => {
    const shapes: ((model: string) => Call)[] = [
      (model) => ({ path: '/openai/v1/chat/completions', body: { model, messages } }),
      (model) => ({ path: '/openai/v1/chat/completions', body: { model, messages, stream: true } }),
      (model) => ({ path: '/openai/v1/responses', body: { model, input: 'hello' } }),
      (model) => ({ path: '/openai/v1/embeddings', body: { model, input: 'hello' } }),
      (model) => ({ path: '/openai/v1/completions', body: { model, prompt: 'hello' } }),
      (model) => ({
        path: '/anthropic/v1/messages',
        body: { model, max_tokens: 16, messages },
      }),
    ];
    const models: string[] = [];
    for (let i = 0; i < 12; i++) {
      const model = huge(`hostile-model-${i}-`, 3 * MIB);
      models.push(model);
      const shape = shapes[i % shapes.length];
      assert.ok(shape);
      assert.equal(await send(shape(model)), 200);
      assertBounded(await scrape());
    }
    for (let i = 0; i < 3; i++) assertBounded(await scrape());

    const last = await scrape();
    for (const model of models) {
      const [row] = rowsWhere((r) => typeof r.model === 'string' && r.model.startsWith(model.slice(0, 20)));
      assert.ok(row, 'the call is in the ledger');
      assert.equal(row.model, `${model.slice(0, 1024 - 17)}…[+${model.length - 1007} chars]`);
      assert.equal(row.model.length, MAX_LEDGER_VALUE_CHARS);
      assert.deepEqual(flagsOf(row), ['dimension_truncated']);
      assert.equal(row.cost, null, 'a huge model is never priced');
      const labelled = last.requests.filter((s) => s.labels.model === labelOf(model));
      assert.equal(labelled.length, 1, 'the call is counted under its capped model');
    }
    // The simulator echoes the model. In a stream each event carries it (read, then capped and
    // flagged like the asked-for one); a non-streamed answer's 3 MiB `model` member is larger
    // than the bounded answer reader keeps (json-member-scanner.ts), so it is not read at all.
    const hostile = rowsWhere((r) => typeof r.model === 'string' && r.model.startsWith('hostile-model-'));
    const streamed = hostile.filter((r) => r.stream === 1);
    assert.equal(streamed.length, 2);
    for (const row of streamed) assert.equal(row.response_model, row.model);
    for (const row of hostile.filter((r) => r.stream === 0))
      assert.equal(row.response_model, null, 'a member over the reader bound is not read');
    assert.match(last.text, /tokenmeter_dimension_truncated_total\{backend="sim"\} 10\n/);
    assert.match(last.text, /tokenmeter_dimension_truncated_total\{backend="claude"\} 2\n/);
  });

  test('a huge user: OpenAI body `user` and Anthropic `metadata.user_id`', async () => {
    const openaiUser = huge('openai-user-', 2 * MIB);
    const anthropicUser = huge('anthropic-user-', 2 * MIB);
    assert.equal(
      await send({
        path: '/openai/v1/chat/completions',
        body: { model: 'gpt-4o-mini', messages, user: openaiUser },
      }),
      200,
    );
    assert.equal(
      await send({
        path: '/anthropic/v1/messages',
        body: { model: 'claude-sonnet-4-5', max_tokens: 16, messages, metadata: { user_id: anthropicUser } },
      }),
      200,
    );
    const s = await scrape();
    assertBounded(s);
    for (const user of [openaiUser, anthropicUser]) {
      const [row] = rowsWhere((r) => typeof r.user === 'string' && r.user.startsWith(user.slice(0, 14)));
      assert.equal((row?.user as string).length, MAX_LEDGER_VALUE_CHARS);
      assert.ok((row?.user as string).endsWith(`…[+${user.length - 1007} chars]`));
      assert.deepEqual(flagsOf(row), ['dimension_truncated']);
      assert.equal(typeof row?.cost, 'number', 'a sane model is still priced');
      const label = labelOf(user);
      assert.equal(label.length, MAX_LABEL_VALUE_CHARS);
      assert.equal(s.requests.filter((r) => r.labels.user === label).length, 1);
    }
  });

  test('a huge custom dimension from a header', async () => {
    // Node accepts request heads up to 16 KiB: 12 000 characters is about the largest header.
    const team = huge('team-header-', 12_000);
    const status = await send({
      path: '/openai/v1/chat/completions',
      body: { model: 'gpt-4o-mini', messages },
      headers: { 'x-team': team },
    });
    assert.equal(status, 200);
    const [row] = rowsWhere((r) => typeof r.custom === 'string' && r.custom.includes('team-header-'));
    const custom = JSON.parse(row?.custom as string) as Record<string, string>;
    assert.equal(custom.team, `${team.slice(0, 1009)}…[+${team.length - 1009} chars]`);
    assert.deepEqual(flagsOf(row), ['dimension_truncated']);
    const s = await scrape();
    assertBounded(s);
    assert.equal(s.requests.filter((r) => r.labels.team === labelOf(team)).length, 1);
  });

  test('model names from the path: Azure deployment at and beyond the limit, Gemini path model', async () => {
    const atLimit = huge('dep-at-limit-', MAX_LEDGER_VALUE_CHARS);
    const beyond = huge('dep-beyond-', MAX_LEDGER_VALUE_CHARS + 1);
    for (const deployment of [atLimit, beyond]) {
      const status = await send({
        path: `/azure/openai/deployments/${deployment}/chat/completions?api-version=2024-10-21`,
        body: { messages },
      });
      assert.equal(status, 200);
    }
    const geminiModel = huge('gemini-path-', 5000);
    const status = await send({
      path: `/gemini/v1beta/models/${geminiModel}:generateContent`,
      body: { contents: [{ role: 'user', parts: [{ text: 'hello' }] }] },
    });
    assert.equal(status, 200);

    const [kept] = rowsWhere((r) => r.model === atLimit);
    assert.ok(kept, 'a deployment of exactly 1024 characters is kept whole');
    assert.deepEqual(flagsOf(kept), []);
    const [cut] = rowsWhere((r) => typeof r.model === 'string' && r.model.startsWith('dep-beyond-'));
    assert.equal(cut?.model, `${beyond.slice(0, 1012)}…[+13 chars]`);
    assert.deepEqual(flagsOf(cut), ['dimension_truncated']);
    const [gemini] = rowsWhere((r) => typeof r.model === 'string' && r.model.startsWith('gemini-path-'));
    assert.equal((gemini?.model as string).length, MAX_LEDGER_VALUE_CHARS);
    assert.deepEqual(flagsOf(gemini), ['dimension_truncated']);
    const s = await scrape();
    assertBounded(s);
    for (const model of [atLimit, beyond, geminiModel])
      assert.equal(s.requests.filter((r) => r.labels.model === labelOf(model)).length, 1);
  });
});

describe('the cardinality budget cannot be spent by one tenant', () => {
  /** The `tm_requests_total` samples of the rogue API with the given status class. */
  function rogueSamples(s: Scrape, statusClass: string): Scrape['requests'] {
    return s.requests.filter((r) => r.labels.api === 'rogue' && r.labels.status_class === statusClass);
  }

  test('calls the backend refused add no label value; their records still count', async () => {
    const refusals: [number, string][] = [
      [400, 'Bad Request'],
      [404, 'Not Found'],
      [429, 'Too Many Requests'],
      [500, 'Internal Server Error'],
    ];
    for (const [status, reason] of refusals) {
      rogue.script(() => [
        {
          write: httpAnswer(
            status,
            { 'content-type': 'application/json' },
            JSON.stringify({ error: { message: 'refused', type: 'invalid_request_error' } }),
            reason,
          ),
        },
      ]);
      const model = `refused-model-${status}`;
      const got = await send({
        path: '/rogue/v1/chat/completions',
        body: { model, messages, user: `refused-user-${status}` },
        headers: { 'x-team': `refused-team-${status}` },
      });
      assert.equal(got, status);
      const [row] = rowsWhere((r) => r.model === model);
      assert.equal(row?.status, status, 'the ledger keeps the exact values of a refused call');
      assert.equal(row?.user, `refused-user-${status}`);
    }
    let s = await scrape();
    assert.equal(s.text.includes('refused-'), false, 'no value of a refused call is a label');
    const refused = [...rogueSamples(s, '4xx'), ...rogueSamples(s, '5xx')];
    assert.equal(
      refused.reduce((n, r) => n + r.value, 0),
      refusals.length,
      'each refused call is counted',
    );
    for (const { labels } of refused) {
      assert.equal(labels.model, OVERFLOW_VALUE);
      assert.equal(labels.user, OVERFLOW_VALUE);
      assert.equal(labels.team, OVERFLOW_VALUE);
      assert.equal(labels.subscription, 'team-a', 'config-sourced labels are admitted from any call');
    }
    assert.match(s.text, /tokenmeter_metric_label_overflow_total\{namespace="tm",label="model"\} [1-9]/);

    // A value a successful call admitted is used again by a refused one.
    rogue.script(() => [
      {
        write: httpAnswer(
          200,
          { 'content-type': 'application/json' },
          JSON.stringify({
            id: 'chatcmpl-rogue',
            object: 'chat.completion',
            model: 'admitted-model',
            choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
            usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
          }),
        ),
      },
    ]);
    assert.equal(
      await send({ path: '/rogue/v1/chat/completions', body: { model: 'admitted-model', messages } }),
      200,
    );
    rogue.script(() => [
      { write: httpAnswer(400, { 'content-type': 'application/json' }, '{}', 'Bad Request') },
    ]);
    assert.equal(
      await send({ path: '/rogue/v1/chat/completions', body: { model: 'admitted-model', messages } }),
      400,
    );
    s = await scrape();
    const again = rogueSamples(s, '4xx').filter((r) => r.labels.model === 'admitted-model');
    assert.equal(again.length, 1);
    assert.equal(again[0]?.value, 1);
  });

  test('one subscription filling a label cannot keep another tenant out', async () => {
    // The gateway's emitter holds at most 1000 `user` values (maxValuesPerDimension's default)
    // over its window. team-a fills every free slot; team-b must still get its new value in
    // (it holds fewer than its fair share, 1000 / 2, so it takes team-a's least recently seen
    // slot), and team-b's established value stays.
    const established = 'team-b-established-user';
    assert.equal(
      await send({
        path: '/openai/v1/embeddings',
        body: { model: 'text-embedding-3-small', input: 'x', user: established },
        key: KEYS.b,
      }),
      200,
    );
    const emitter = gw.metrics.emitters[0];
    assert.ok(emitter);
    const foldedForA = (scraped: Scrape): number =>
      scraped.requests
        .filter((r) => r.labels.subscription === 'team-a' && r.labels.user === OVERFLOW_VALUE)
        .reduce((n, r) => n + r.value, 0);
    const foldedBefore = foldedForA(await scrape());
    const cap = 1000;
    const free = cap - (emitter.heldValues().user ?? 0);
    const toSend = free + 5;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < toSend) {
        const i = next++;
        const status = await send({
          path: '/openai/v1/embeddings',
          body: { model: 'text-embedding-3-small', input: 'x', user: `flood-${i}` },
        });
        assert.equal(status, 200);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));

    const s = await scrape();
    assertBounded({ ...s, bytes: 0 });
    assert.equal(emitter.heldValues().user, cap, 'team-a filled the label');
    const floodLabels = s.requests.filter((r) => r.labels.user?.startsWith('flood-') === true);
    assert.equal(new Set(floodLabels.map((r) => r.labels.user)).size, free);
    assert.equal(foldedForA(s) - foldedBefore, 5, "team-a's new values beyond the cap are folded");

    // team-b still admits a new value, and its established one stays.
    for (const user of ['team-b-new-user', established]) {
      assert.equal(
        await send({
          path: '/openai/v1/embeddings',
          body: { model: 'text-embedding-3-small', input: 'x', user },
          key: KEYS.b,
        }),
        200,
      );
    }
    const after = await scrape();
    assert.equal(emitter.heldValues().user, cap, 'still within the cap');
    const teamB = after.requests.filter((r) => r.labels.subscription === 'team-b');
    assert.equal(teamB.find((r) => r.labels.user === 'team-b-new-user')?.value, 1);
    assert.equal(teamB.find((r) => r.labels.user === established)?.value, 2);
    assert.equal(
      teamB.some((r) => r.labels.user === OVERFLOW_VALUE),
      false,
    );
    // And team-a still reuses a value it holds.
    const held = after.requests.find((r) => r.labels.user?.startsWith('flood-') === true);
    assert.ok(held?.labels.user !== undefined);
    assert.equal(
      await send({
        path: '/openai/v1/embeddings',
        body: { model: 'text-embedding-3-small', input: 'x', user: held.labels.user },
      }),
      200,
    );
    const reused = (await scrape()).requests.find((r) => r.labels.user === held.labels.user);
    assert.equal(reused?.value, 2);
  });
});
