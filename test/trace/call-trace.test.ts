// Tracing a call (issue #8, item 7), end to end: a real gateway in process, the simulator as
// every provider's backend, a real SQLite ledger, the admin API over HTTP. A trace must tell the
// same story as the ledger row and the backend's view of the request.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import pino from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import type { TraceJson } from '../../src/trace/call-trace.js';
import { TRACE_CAPACITY } from '../../src/trace/call-tracer.js';
import { readLedgerRows } from '../helpers/ledger-rows.js';

const ADMIN = 'admin-key-for-traces-0123';
const KEY = 'team-a-subscription-key';
const TRACE = { 'x-tokenmeter-trace': ADMIN };
const JSON_TYPE = { 'content-type': 'application/json' };
const messages = [{ role: 'user' as const, content: 'How many tokens does this sentence have?' }];

/**
 * A backend the test holds mid-answer: it sends the stream's head and first event, then waits
 * for `release()` before the usage event and the end. It also forges the gateway's trace id.
 */
interface HeldBackend {
  url: string;
  release(): void;
  close(): Promise<void>;
}

async function startHeldBackend(): Promise<HeldBackend> {
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'x-tokenmeter-trace-id': 'forged-by-backend',
      });
      res.write(
        'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n',
      );
      void released.then(() => {
        res.end(
          'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":1,"total_tokens":8}}\n\ndata: [DONE]\n\n',
        );
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    release,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let sim: Simulator;
let held: HeldBackend;
let gw: Gateway;
let closedGw: Gateway;
let dir: string;
let ledgerPath: string;

function gatewayConfig(admin: { key?: string }): unknown {
  return {
    gateway: { id: 'gw-trace', location: 'westeurope' },
    admin,
    backends: [
      { id: 'oai', type: 'openai', url: `${sim.url}/v1`, apiKey: 'sk-backend-openai' },
      { id: 'az', type: 'azure-openai', url: sim.url, apiKey: 'backend-azure' },
      { id: 'claude', type: 'anthropic', url: sim.url, apiKey: 'sk-ant-backend' },
      { id: 'google', type: 'gemini', url: sim.url, apiKey: 'AIza-backend' },
      { id: 'held', type: 'openai', url: `${held.url}/v1`, apiKey: 'sk-held' },
    ],
    apis: [
      { id: 'openai', path: '/openai/v1', type: 'openai', backend: 'oai' },
      { id: 'azure', path: '/azure', type: 'azure-openai', backend: 'az' },
      { id: 'anthropic', path: '/anthropic', type: 'anthropic', backend: 'claude' },
      { id: 'gemini', path: '/gemini', type: 'gemini', backend: 'google' },
      { id: 'held', path: '/held/v1', type: 'openai', backend: 'held' },
    ],
    products: [{ id: 'std', apis: ['openai', 'azure', 'anthropic', 'gemini', 'held'] }],
    subscriptions: [
      { id: 'team-a', key: KEY, product: 'std', owner: 'lead@team-a.example', costCenter: 'CC-7' },
    ],
    tokenMetrics: [
      {
        namespace: 'tm',
        dimensions: [
          'Subscription ID',
          'model',
          { name: 'costCenter', value: 'subscription.costCenter' },
          { name: 'team', value: 'request.headers["x-team"]' },
        ],
      },
    ],
  };
}

before(async () => {
  sim = await startSimulator({ completionTokens: 6 });
  held = await startHeldBackend();
  dir = mkdtempSync(join(tmpdir(), 'tm-trace-'));
  ledgerPath = join(dir, 'ledger.db');
  const logger = pino({ level: 'silent' });
  gw = await startGateway(configSchema.parse(gatewayConfig({ key: ADMIN })), {
    port: 0,
    ledgerUrl: `sqlite:${ledgerPath}`,
    logger,
  });
  closedGw = await startGateway(configSchema.parse(gatewayConfig({})), {
    port: 0,
    ledgerUrl: `sqlite:${join(dir, 'closed.db')}`,
    logger,
  });
});

after(async () => {
  await gw.close();
  await closedGw.close();
  await held.close();
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

async function post(
  path: string,
  body: unknown,
  headers: Record<string, string>,
  base = gw.url,
): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { ...JSON_TYPE, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function getTrace(
  id: string,
  /** null: no Authorization header. */
  bearer: string | null = ADMIN,
  base = gw.url,
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetch(`${base}/admin/traces/${id}`, {
    headers: bearer === null ? {} : { authorization: `Bearer ${bearer}` },
  });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

async function traceOf(headers: Headers): Promise<TraceJson> {
  const id = headers.get('x-tokenmeter-trace-id');
  assert.ok(id !== null, 'the answer carries x-tokenmeter-trace-id');
  const got = await getTrace(id);
  assert.equal(got.status, 200);
  assert.equal(got.headers.get('cache-control'), 'no-store');
  return got.body as TraceJson;
}

function errorCode(body: unknown): unknown {
  return (body as { error?: { code?: unknown } }).error?.code;
}

/** The ledger row the trace's record names, which must be the record the trace shows. */
function assertRecordInLedger(trace: TraceJson): void {
  assert.ok(trace.record !== null, 'the trace holds the committed record');
  const row = readLedgerRows(ledgerPath).find((r) => r.id === trace.record?.id);
  assert.ok(row !== undefined, 'the traced record is a ledger row');
  assert.equal(row.subscription, trace.record.subscription);
  assert.equal(row.source, trace.record.source);
  assert.equal(row.total_tokens, trace.record.totalTokens ?? null);
  assert.equal(row.status, trace.record.status);
}

/** The backend never sees the trace header (nor the admin key anywhere in the request head). */
function assertNoTraceUpstream(headers: IncomingHttpHeaders | undefined): void {
  assert.ok(headers !== undefined);
  assert.equal(headers['x-tokenmeter-trace'], undefined);
  assert.ok(!JSON.stringify(headers).includes(ADMIN));
}

describe('a traced call', () => {
  test('OpenAI, not streamed: subscription, caller, every dimension with its source, backend, record', async () => {
    const answer = await post(
      '/openai/v1/chat/completions',
      { model: 'gpt-4o-mini', messages, user: 'alice@example.com' },
      { authorization: `Bearer ${KEY}`, 'x-team': 'search', ...TRACE },
    );
    assert.equal(answer.status, 200);
    assertNoTraceUpstream(sim.stats().lastRequest?.headers);
    const trace = await traceOf(answer.headers);
    assert.equal(trace.state, 'completed');
    assert.equal(trace.stage, 'forward');
    assert.deepEqual(trace.request, { method: 'POST', path: '/openai/v1/chat/completions' });
    assert.equal(trace.api, 'openai');
    assert.equal(trace.operation, 'chat.completions');
    assert.equal(trace.metered, true);
    assert.deepEqual(trace.subscription, {
      id: 'team-a',
      owner: 'lead@team-a.example',
      costCenter: 'CC-7',
      metadata: {},
    });
    assert.equal(trace.product, 'std');
    assert.deepEqual(trace.caller, { credential: { kind: 'config-key' } });
    assert.deepEqual(trace.dimensions, {
      api: { value: 'openai', source: 'config' },
      operation: { value: 'chat.completions', source: 'config' },
      product: { value: 'std', source: 'config-key' },
      user: trace.dimensions?.user,
      subscription: { value: 'team-a', source: 'config-key' },
      ip: trace.dimensions?.ip,
      location: { value: 'westeurope', source: 'config' },
      gateway: { value: 'gw-trace', source: 'config' },
      backend: { value: 'oai', source: 'config' },
      model: { value: 'gpt-4o-mini', source: 'body:model' },
      responseModel: { value: trace.record?.responseModel ?? '', source: 'answer' },
      provider: { value: 'openai', source: 'config' },
      stream: { value: false, source: 'body:stream' },
    });
    // Who set these two sources is another part of the issue; their values are the call's.
    assert.equal(trace.dimensions.user?.value, 'alice@example.com');
    assert.match(trace.dimensions.user?.source ?? '', /^body/);
    assert.equal(trace.dimensions.ip?.value, '127.0.0.1');
    assert.equal(trace.dimensions.ip?.source, 'peer');
    assert.deepEqual(trace.custom, {
      costCenter: { value: 'CC-7', source: 'cel' },
      team: { value: 'search', source: 'cel' },
    });
    assert.deepEqual(trace.backend, { id: 'oai', type: 'openai', upstreamPath: '/v1/chat/completions' });
    assert.deepEqual(trace.usage, {
      streamUsageInjected: false,
      usageAnswerStripped: false,
      source: 'reported',
      flags: [],
    });
    assert.equal(trace.record?.subscription, 'team-a');
    assert.equal(trace.record?.custom.team, 'search');
    assertRecordInLedger(trace);
    assert.equal(trace.refused, undefined);
  });

  test('OpenAI streamed through the official SDK: the usage request the gateway added is traced', async () => {
    const client = new OpenAI({
      baseURL: `${gw.url}/openai/v1`,
      apiKey: KEY,
      maxRetries: 0,
      defaultHeaders: TRACE,
    });
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages, stream: true })
      .withResponse();
    let sawUsage = false;
    for await (const chunk of stream) if (chunk.usage) sawUsage = true;
    assert.equal(sawUsage, false, 'the client did not ask for usage and sees none');
    assertNoTraceUpstream(sim.stats().lastRequest?.headers);
    const trace = await traceOf(response.headers);
    assert.equal(trace.state, 'completed');
    assert.deepEqual(trace.dimensions?.stream, { value: true, source: 'body:stream' });
    assert.deepEqual(trace.usage, {
      streamUsageInjected: true,
      usageAnswerStripped: true,
      source: 'reported',
      flags: [],
    });
    assert.equal(trace.record?.stream, true);
    assert.equal(trace.record?.completionTokens, 6);
    assertRecordInLedger(trace);
  });

  test('Anthropic streamed and Azure with its deployment in the path', async () => {
    const anthropic = await post(
      '/anthropic/v1/messages',
      { model: 'claude-sonnet-5', max_tokens: 16, messages, stream: true },
      { 'x-api-key': KEY, 'anthropic-version': '2023-06-01', ...TRACE },
    );
    assert.equal(anthropic.status, 200);
    assertNoTraceUpstream(sim.stats().lastRequest?.headers);
    const streamed = await traceOf(anthropic.headers);
    assert.deepEqual(streamed.backend, { id: 'claude', type: 'anthropic', upstreamPath: '/v1/messages' });
    assert.equal(streamed.operation, 'messages');
    assert.deepEqual(streamed.dimensions?.model, { value: 'claude-sonnet-5', source: 'body:model' });
    assert.equal(streamed.usage?.streamUsageInjected, false, 'Anthropic streams carry usage unasked');
    assert.equal(streamed.usage?.source, 'reported');
    assertRecordInLedger(streamed);

    const azure = await post(
      '/azure/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21',
      { messages },
      { 'api-key': KEY, ...TRACE },
    );
    assert.equal(azure.status, 200);
    const trace = await traceOf(azure.headers);
    assert.deepEqual(trace.request.path, '/azure/openai/deployments/my-gpt/chat/completions');
    assert.deepEqual(trace.dimensions?.model, { value: 'my-gpt', source: 'path' });
    assert.equal(trace.backend?.type, 'azure-openai');
    assert.equal(trace.backend?.upstreamPath, '/openai/deployments/my-gpt/chat/completions');
    assertRecordInLedger(trace);
  });

  test('Gemini with the key in the query: no query string, and so no key, anywhere in the trace', async () => {
    const queryKey = encodeURIComponent(KEY);
    const answer = await post(
      `/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?key=${queryKey}&alt=sse`,
      { contents: [{ role: 'user', parts: [{ text: 'Hello there' }] }] },
      TRACE,
    );
    assert.equal(answer.status, 200);
    assertNoTraceUpstream(sim.stats().lastRequest?.headers);
    const trace = await traceOf(answer.headers);
    assert.equal(trace.request.path, '/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent');
    assert.deepEqual(trace.dimensions?.model, { value: 'gemini-2.5-flash', source: 'path' });
    assert.equal(trace.backend?.upstreamPath, '/v1beta/models/gemini-2.5-flash:streamGenerateContent');
    assert.equal(trace.usage?.source, 'reported');
    assertRecordInLedger(trace);
    const text = JSON.stringify(trace);
    for (const secret of [KEY, queryKey, ADMIN, 'AIza-backend']) assert.ok(!text.includes(secret), secret);
  });

  test('fetched before the call ends it says in progress; the backend cannot forge its id', async () => {
    const res = await fetch(`${gw.url}/held/v1/chat/completions`, {
      method: 'POST',
      headers: { ...JSON_TYPE, authorization: `Bearer ${KEY}`, ...TRACE },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages, stream: true }),
    });
    assert.equal(res.status, 200);
    const id = res.headers.get('x-tokenmeter-trace-id');
    assert.ok(id !== null && id !== 'forged-by-backend');
    const during = (await getTrace(id)).body as TraceJson;
    assert.equal(during.state, 'in-progress');
    assert.equal(during.record, null);
    assert.equal(during.usage?.source, undefined);
    assert.equal(during.backend?.id, 'held');
    held.release();
    await res.text();
    const done = (await getTrace(id)).body as TraceJson;
    assert.equal(done.state, 'completed');
    assert.equal(done.record?.totalTokens, 8);
    assertRecordInLedger(done);
  });

  test('a count_tokens call is forwarded, traced, and has no record', async () => {
    const answer = await post(
      '/anthropic/v1/messages/count_tokens',
      { model: 'claude-sonnet-5', messages },
      { 'x-api-key': KEY, 'anthropic-version': '2023-06-01', ...TRACE },
    );
    assert.equal(answer.status, 200);
    const trace = await traceOf(answer.headers);
    assert.equal(trace.metered, false);
    assert.equal(trace.state, 'completed');
    assert.equal(trace.record, null);
  });
});

describe('a refused call', () => {
  test('a bad subscription key is traced at the authenticate stage with its code', async () => {
    const answer = await post(
      '/openai/v1/chat/completions',
      { model: 'gpt-4o-mini', messages },
      { authorization: 'Bearer not-a-key', ...TRACE },
    );
    assert.equal(answer.status, 401);
    assert.equal(errorCode(JSON.parse(answer.text)), 'TM_UNAUTHORIZED');
    const trace = await traceOf(answer.headers);
    assert.equal(trace.state, 'refused');
    assert.equal(trace.refused?.stage, 'authenticate');
    assert.equal(trace.refused?.code, 'TM_UNAUTHORIZED');
    assert.equal(trace.refused?.status, 401);
    assert.equal(trace.api, 'openai');
    assert.equal(trace.subscription, undefined);
    assert.equal(trace.record, null);
    assert.ok(!JSON.stringify(trace).includes('not-a-key'));
  });

  test('unknown API, unknown operation and a body that is not JSON: each stage and code', async () => {
    const cases = [
      { path: '/nowhere/v1/chat', body: '{}', stage: 'route', code: 'TM_NOT_FOUND' },
      { path: '/openai/v1/no-such-thing', body: '{}', stage: 'operation', code: 'TM_NOT_FOUND' },
      { path: '/openai/v1/chat/completions', body: '{"model":', stage: 'read-body', code: 'TM_BAD_JSON' },
    ];
    for (const c of cases) {
      const answer = await post(c.path, c.body, { authorization: `Bearer ${KEY}`, ...TRACE });
      assert.equal(errorCode(JSON.parse(answer.text)), c.code, c.path);
      const trace = await traceOf(answer.headers);
      assert.equal(trace.state, 'refused', c.path);
      assert.deepEqual([trace.refused?.stage, trace.refused?.code], [c.stage, c.code], c.path);
    }
  });
});

describe('without a valid admin key', () => {
  test('a wrong key in the trace header: no trace id, the call answered and billed as usual', async () => {
    const before = readLedgerRows(ledgerPath).length;
    const answer = await post(
      '/openai/v1/chat/completions',
      { model: 'gpt-4o-mini', messages },
      { authorization: `Bearer ${KEY}`, 'x-tokenmeter-trace': `${ADMIN}x` },
    );
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('x-tokenmeter-trace-id'), null);
    assert.ok((JSON.parse(answer.text) as { usage?: unknown }).usage !== undefined);
    assert.equal(sim.stats().lastRequest?.headers['x-tokenmeter-trace'], undefined);
    assert.equal(readLedgerRows(ledgerPath).length, before + 1);
    // A refused call with a wrong key is not traced either.
    const refused = await post('/nowhere', '{}', { 'x-tokenmeter-trace': 'guess' });
    assert.equal(refused.status, 404);
    assert.equal(refused.headers.get('x-tokenmeter-trace-id'), null);
  });

  test('/admin/* answers 401 without the bearer, with a wrong one, or a trace key in the wrong header', async () => {
    const { headers } = await post(
      '/openai/v1/chat/completions',
      { model: 'gpt-4o-mini', messages },
      { authorization: `Bearer ${KEY}`, ...TRACE },
    );
    const id = headers.get('x-tokenmeter-trace-id');
    assert.ok(id !== null);
    for (const bearer of [null, 'wrong', KEY, `${ADMIN} `.repeat(2)]) {
      const got = await getTrace(id, bearer);
      assert.equal(got.status, 401, String(bearer));
      assert.equal(errorCode(got.body), 'TM_UNAUTHORIZED');
      assert.equal(got.headers.get('www-authenticate'), 'Bearer');
    }
    const viaTraceHeader = await fetch(`${gw.url}/admin/traces/${id}`, { headers: TRACE });
    assert.equal(viaTraceHeader.status, 401);
    for (const path of ['/admin', '/admin/', '/admin/traces', '/admin?x=1', '/admin/anything/else']) {
      const res = await fetch(`${gw.url}${path}`, { method: 'POST', body: '{}' });
      assert.equal(res.status, 401, path);
      assert.equal(errorCode(await res.json()), 'TM_UNAUTHORIZED', path);
    }
    assert.equal((await getTrace(id)).status, 200, 'the right key still reads it');
  });

  test('with the admin key: an unknown id or an unknown admin path is 404 TM_NOT_FOUND', async () => {
    const unknown = await getTrace('x');
    assert.equal(unknown.status, 404);
    assert.equal(errorCode(unknown.body), 'TM_NOT_FOUND');
    const res = await fetch(`${gw.url}/admin/nothing-here`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    assert.equal(res.status, 404);
    assert.equal(errorCode(await res.json()), 'TM_NOT_FOUND');
  });

  test('no admin.key configured: /admin/* is 401 and the trace header is ignored', async () => {
    const answer = await post(
      '/openai/v1/chat/completions',
      { model: 'gpt-4o-mini', messages },
      { authorization: `Bearer ${KEY}`, ...TRACE },
      closedGw.url,
    );
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('x-tokenmeter-trace-id'), null);
    assert.equal(sim.stats().lastRequest?.headers['x-tokenmeter-trace'], undefined);
    for (const bearer of [ADMIN, null]) {
      const got = await getTrace('x', bearer, closedGw.url);
      assert.equal(got.status, 401);
      assert.equal(errorCode(got.body), 'TM_UNAUTHORIZED');
    }
  });
});

test(`the ring keeps the last ${TRACE_CAPACITY} traces: after ${TRACE_CAPACITY + 1}, the first is gone`, async () => {
  // Refused calls are traced like any other and cost the gateway no ledger write.
  const traced = async (i: number): Promise<string> => {
    const res = await fetch(`${gw.url}/nowhere/${i}`, { method: 'POST', headers: TRACE, body: '{}' });
    await res.arrayBuffer();
    const id = res.headers.get('x-tokenmeter-trace-id');
    assert.ok(id !== null);
    return id;
  };
  const first = await traced(0);
  const middle: string[] = [];
  for (let i = 1; i < TRACE_CAPACITY; i += 25) {
    const batch = Array.from({ length: Math.min(25, TRACE_CAPACITY - i) }, (_, k) => traced(i + k));
    middle.push(...(await Promise.all(batch)));
  }
  const last = await traced(TRACE_CAPACITY);
  assert.equal(middle.length, TRACE_CAPACITY - 1);
  assert.equal(new Set([first, ...middle, last]).size, TRACE_CAPACITY + 1, 'every trace id is new');
  const gone = await getTrace(first);
  assert.equal(gone.status, 404);
  assert.equal(errorCode(gone.body), 'TM_NOT_FOUND');
  for (const id of [middle[0], middle.at(-1)]) assert.equal((await getTrace(id ?? '')).status, 200);
  const kept = await getTrace(last);
  assert.equal(kept.status, 200);
  assert.equal((kept.body as TraceJson).request.path, `/nowhere/${TRACE_CAPACITY}`);
  assert.equal((kept.body as TraceJson).refused?.stage, 'route');
});
