// AWS Bedrock end to end: the official @aws-sdk/client-bedrock-runtime → a real `tokenmeter serve`
// process → the simulator speaking Bedrock (JSON and the binary event stream). The client sets
// only `endpoint` and its subscription key as a Bedrock API key (`token`, or
// AWS_BEARER_TOKEN_BEDROCK in a child process); the upstream accepts the backend's own API key
// only, so a client key reaching it would fail the call.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, beforeEach, test } from 'node:test';
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
} from '@aws-sdk/client-bedrock-runtime';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { readLedgerRows } from '../helpers/ledger-rows.js';
import { addHeader } from '../simulator/bedrock-helpers.js';
import { bedrockGatewayConfig, pick, sum, TEAM_KEYS, waitForRows } from './bedrock-gateway-helpers.js';

const run = promisify(execFile);
const BACKEND_KEY = 'bedrock-backend-api-key';
const COMPLETION = 7;
const NOVA = 'us.amazon.nova-micro-v1:0';
const CLAUDE = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const PROFILE_ARN = 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6';
const messages = [{ role: 'user' as const, content: [{ text: 'What is the capital of France?' }] }];
const claudeBody = JSON.stringify({
  anthropic_version: 'bedrock-2023-05-31',
  max_tokens: 200,
  messages: [{ role: 'user', content: 'Name a colour.' }],
});

let sim: Simulator;
let gw: GatewayProcess;
let endpoint: string;

before(async () => {
  sim = await startSimulator({ completionTokens: COMPLETION, bedrockAuth: { apiKey: BACKEND_KEY } });
  gw = await startGatewayProcess(bedrockGatewayConfig({ url: sim.url, apiKey: BACKEND_KEY }));
  endpoint = `${gw.url}/bedrock`;
});
after(async () => {
  for (const client of clients) client.destroy();
  await gw.stop();
  await sim.close();
});
beforeEach(() => sim.resetStats());

/**
 * The SDK as a user configures it: only `endpoint` (and region) and the subscription key as a
 * Bedrock API key. No requestHandler: the default NodeHttp2Handler speaks HTTP/2 cleartext with
 * prior knowledge, which the gateway accepts on its port (docs/http2.md). Retries are off so
 * that every failure shows.
 */
function bearerClient(url: string, key: string): BedrockRuntimeClient {
  const client = new BedrockRuntimeClient({
    endpoint: url,
    region: 'us-east-1',
    token: { token: key },
    authSchemePreference: ['httpBearerAuth'],
    maxAttempts: 1,
  });
  clients.push(client);
  return client;
}
const clients: BedrockRuntimeClient[] = [];

/** The backend saw its own key only. */
function assertUpstreamKey(): void {
  const last = sim.stats().lastRequest;
  assert.equal(last?.headers.authorization, `Bearer ${BACKEND_KEY}`);
  const seen = JSON.stringify(last);
  for (const key of Object.values(TEAM_KEYS)) assert.ok(!seen.includes(key));
}

test('Converse, ConverseStream, InvokeModel and InvokeModelWithResponseStream through the SDK are metered exactly', async () => {
  const client = bearerClient(endpoint, TEAM_KEYS.a);
  const converse = await client.send(new ConverseCommand({ modelId: NOVA, messages }));
  assert.equal(converse.output?.message?.role, 'assistant');
  assert.equal(converse.usage?.outputTokens, COMPLETION);
  assertUpstreamKey();

  const stream = await client.send(new ConverseStreamCommand({ modelId: NOVA, messages }));
  let text = '';
  let streamUsage: unknown;
  for await (const event of stream.stream ?? []) {
    text += event.contentBlockDelta?.delta?.text ?? '';
    if (event.metadata !== undefined) streamUsage = event.metadata.usage;
  }
  assert.equal(text, converse.output?.message?.content?.[0]?.text, 'the same deterministic answer');
  assert.deepEqual(streamUsage, converse.usage);

  const invoke = await client.send(new InvokeModelCommand({ modelId: CLAUDE, body: claudeBody }));
  const invoked = JSON.parse(Buffer.from(invoke.body).toString('utf8')) as { usage: Record<string, number> };
  assert.equal(invoked.usage.output_tokens, COMPLETION);

  const invokeStream = await client.send(
    new InvokeModelWithResponseStreamCommand({ modelId: CLAUDE, body: claudeBody }),
  );
  let metrics: Record<string, number> | undefined;
  for await (const event of invokeStream.body ?? []) {
    const model = JSON.parse(Buffer.from(event.chunk?.bytes ?? new Uint8Array()).toString('utf8')) as Record<
      string,
      unknown
    >;
    metrics = (model['amazon-bedrock-invocationMetrics'] as Record<string, number> | undefined) ?? metrics;
  }
  assert.equal(metrics?.outputTokenCount, COMPLETION);
  assertUpstreamKey();

  const upstream = sim.stats();
  assert.deepEqual([upstream.requests, upstream.errors], [4, 0]);
  const rows = await waitForRows(gw.ledgerPath, 4);
  const nova = converse.usage?.inputTokens ?? 0;
  const claude = invoked.usage.input_tokens ?? 0;
  assert.deepEqual(rows.map(pick), [
    ['bedrock', 'Converse', NOVA, 0, 'reported', nova, COMPLETION, nova + COMPLETION, 'team-a'],
    ['bedrock', 'ConverseStream', NOVA, 1, 'reported', nova, COMPLETION, nova + COMPLETION, 'team-a'],
    ['bedrock', 'InvokeModel', CLAUDE, 0, 'reported', claude, COMPLETION, claude + COMPLETION, 'team-a'],
    [
      'bedrock',
      'InvokeModelWithResponseStream',
      CLAUDE,
      1,
      'reported',
      claude,
      COMPLETION,
      claude + COMPLETION,
      'team-a',
    ],
  ]);
  assert.equal(sum(rows, 'prompt_tokens'), upstream.promptTokens);
  assert.equal(sum(rows, 'completion_tokens'), upstream.completionTokens);
  assert.ok(rows.every((r) => r.status === 200 && r.api === 'bedrock' && r.backend === 'aws'));
});

test('model ids: an inference profile ARN is the model dimension, decoded once', async () => {
  const client = bearerClient(endpoint, TEAM_KEYS.b);
  const before = readLedgerRows(gw.ledgerPath).length;
  const stream = await client.send(new ConverseStreamCommand({ modelId: PROFILE_ARN, messages }));
  for await (const event of stream.stream ?? []) void event;
  // The upstream got the id encoded as the SDK sent it (`/` and `:` percent-encoded).
  assert.equal(sim.stats().lastRequest?.path, `/model/${encodeURIComponent(PROFILE_ARN)}/converse-stream`);
  const invoke = await client.send(
    new InvokeModelCommand({
      modelId: `arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.${CLAUDE}`,
      body: claudeBody,
    }),
  );
  assert.equal(invoke.$metadata.httpStatusCode, 200);
  const rows = (await waitForRows(gw.ledgerPath, before + 2)).slice(before);
  assert.deepEqual(
    rows.map((r) => [r.operation, r.model, r.subscription]),
    [
      ['ConverseStream', PROFILE_ARN, 'team-b'],
      ['InvokeModel', `arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.${CLAUDE}`, 'team-b'],
    ],
  );
});

test('AWS_BEARER_TOKEN_BEDROCK: a client configured by the environment only is metered under its subscription', async () => {
  const before = readLedgerRows(gw.ledgerPath).length;
  // No AWS credentials of this machine may leak into the child: the API key alone must do.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_')));
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', 'test/gateway/bedrock-env-client.ts', endpoint, NOVA],
    { env: { ...env, AWS_BEARER_TOKEN_BEDROCK: TEAM_KEYS.b } },
  );
  const out = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { converse: unknown; stream: unknown };
  assert.deepEqual(out.stream, out.converse);
  assertUpstreamKey();
  const rows = (await waitForRows(gw.ledgerPath, before + 2)).slice(before);
  assert.deepEqual(
    rows.map((r) => [r.operation, r.subscription, r.completion_tokens]),
    [
      ['Converse', 'team-b', COMPLETION],
      ['ConverseStream', 'team-b', COMPLETION],
    ],
  );
});

test('a wrong subscription key is refused by the gateway and never reaches the backend', async () => {
  await assert.rejects(
    bearerClient(endpoint, 'not-a-subscription-key').send(new ConverseCommand({ modelId: NOVA, messages })),
    (err: Error & { $metadata?: { httpStatusCode?: number } }) => err.$metadata?.httpStatusCode === 401,
  );
  assert.equal(sim.stats().requests, 0);
});

test("InvokeModel whose billed counts differ from the model body's: Bedrock's win, the record is flagged", async () => {
  const before = readLedgerRows(gw.ledgerPath).length;
  const client = addHeader(bearerClient(endpoint, TEAM_KEYS.a), 'x-simulator-billed-input-delta', '4');
  const invoke = await client.send(new InvokeModelCommand({ modelId: CLAUDE, body: claudeBody }));
  const own = (JSON.parse(Buffer.from(invoke.body).toString('utf8')) as { usage: Record<string, number> })
    .usage;
  const stream = await client.send(
    new InvokeModelWithResponseStreamCommand({ modelId: CLAUDE, body: claudeBody }),
  );
  for await (const event of stream.body ?? []) void event;
  const billed = (own.input_tokens ?? 0) + 4;
  const rows = (await waitForRows(gw.ledgerPath, before + 2)).slice(before);
  assert.deepEqual(
    rows.map((r) => [r.operation, r.prompt_tokens, r.completion_tokens, r.total_tokens, r.flags]),
    [
      ['InvokeModel', billed, COMPLETION, billed + COMPLETION, 'billed_counts_differ'],
      ['InvokeModelWithResponseStream', billed, COMPLETION, billed + COMPLETION, 'billed_counts_differ'],
    ],
  );
  assert.equal(sum(rows, 'prompt_tokens'), sim.stats().promptTokens, 'what the upstream billed');
});
