// Bad input on the Bedrock wire, end to end: the official AWS SDK → a real `tokenmeter serve` →
// the simulator failing on demand (x-simulator-fail). A CRC-failing frame, a frame truncated
// mid-way, exception events and a client that aborts mid-ConverseStream: the client sees its
// stream fail, the gateway relays the bytes as they came, writes one record per call (`partial`
// when the stream did not reach its end), keeps serving, and never counts a call twice.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  ConverseStreamCommand,
  InvokeModelWithResponseStreamCommand,
  type BedrockRuntimeClient,
} from '@aws-sdk/client-bedrock-runtime';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { CUT_AFTER_STEPS } from '../../src/simulator/failures.js';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { readLedgerRows, type LedgerRow } from '../helpers/ledger-rows.js';
import { bearerClient, postRaw } from '../simulator/bedrock-helpers.js';
import { TEAM_KEYS, waitForRows } from './bedrock-gateway-helpers.js';

const COMPLETION = 12;
const NOVA = 'amazon.nova-lite-v1:0';
const CLAUDE = 'anthropic.claude-3-haiku-20240307-v1:0';
const messages = [{ role: 'user' as const, content: [{ text: 'Tell me a short story.' }] }];
const claudeBody = JSON.stringify({
  anthropic_version: 'bedrock-2023-05-31',
  max_tokens: 100,
  messages: [{ role: 'user', content: 'Tell me a short story.' }],
});

let sim: Simulator;
let slow: Simulator;
let gw: GatewayProcess;

before(async () => {
  sim = await startSimulator({ completionTokens: COMPLETION });
  // A long, paced stream for the client that aborts (40 tokens/s: 200 tokens take 5 s).
  slow = await startSimulator({ completionTokens: 200, tokensPerSecond: 40 });
  gw = await startGatewayProcess({
    backends: [
      { id: 'aws', type: 'bedrock', url: sim.url, apiKey: 'backend-key' },
      { id: 'aws-slow', type: 'bedrock', url: slow.url, apiKey: 'backend-key' },
    ],
    apis: [
      { id: 'bedrock', path: '/bedrock', type: 'bedrock', backend: 'aws' },
      { id: 'bedrock-slow', path: '/bedrock-slow', type: 'bedrock', backend: 'aws-slow' },
    ],
    products: [{ id: 'std', apis: ['bedrock', 'bedrock-slow'] }],
    subscriptions: [{ id: 'team-a', key: TEAM_KEYS.a, product: 'std' }],
  });
});
after(async () => {
  await gw.stop();
  await sim.close();
  await slow.close();
});

/** Reads a ConverseStream to its end or its failure: the delta texts read and the error. */
async function readConverseStream(client: BedrockRuntimeClient): Promise<{ deltas: number; error?: Error }> {
  let deltas = 0;
  try {
    const out = await client.send(new ConverseStreamCommand({ modelId: NOVA, messages }));
    for await (const event of out.stream ?? []) if (event.contentBlockDelta !== undefined) deltas++;
    return { deltas };
  } catch (err) {
    return { deltas, error: err as Error };
  }
}

/** The one new record of a call made by `call`, and the proof that the gateway still serves. */
async function recordOf(call: () => Promise<void>): Promise<LedgerRow> {
  const before = readLedgerRows(gw.ledgerPath).length;
  await call();
  const failed = (await waitForRows(gw.ledgerPath, before + 1)).slice(before);
  assert.equal(failed.length, 1, 'one record for the failed call');
  // The gateway keeps serving: the next call is whole and reported, and adds one record.
  const next = await readConverseStream(bearerClient(`${gw.url}/bedrock`, TEAM_KEYS.a));
  assert.deepEqual(next, { deltas: COMPLETION });
  const after = (await waitForRows(gw.ledgerPath, before + 2)).slice(before);
  assert.equal(after.length, 2, 'nothing counted twice');
  assert.deepEqual([after[1]?.source, after[1]?.completion_tokens], ['reported', COMPLETION]);
  return failed[0] as LedgerRow;
}

test('a CRC-failing frame mid-stream: the bytes reach the client as sent, its SDK fails, the record is partial', async () => {
  // The gateway relays the event stream unchanged, corrupt frame included.
  const path = `/model/${encodeURIComponent(NOVA)}/converse-stream`;
  const body = { messages };
  const fail = { 'x-simulator-fail': 'crc-corrupt' };
  const direct = await postRaw(`${sim.url}${path}`, body, fail);
  const relayed = await postRaw(`${gw.url}/bedrock${path}`, body, {
    ...fail,
    authorization: `Bearer ${TEAM_KEYS.a}`,
  });
  assert.equal(relayed.status, 200);
  assert.ok(relayed.bytes.equals(direct.bytes), 'byte for byte');

  let seen: { deltas: number; error?: Error } = { deltas: 0 };
  const row = await recordOf(async () => {
    seen = await readConverseStream(bearerClient(`${gw.url}/bedrock`, TEAM_KEYS.a, 'crc-corrupt'));
  });
  assert.equal(seen.deltas, CUT_AFTER_STEPS);
  assert.match(String(seen.error?.message), /checksum/);
  // Nothing after the corrupt frame is believed (its metadata event included): the counts are
  // estimated from the request and the text before the fault.
  assert.equal(row.source, 'partial');
  assert.equal(row.stream, 1);
  assert.equal(row.completion_tokens, CUT_AFTER_STEPS);
  assert.ok(Number(row.prompt_tokens) > 0);
});

test('a frame truncated mid-way, then the connection ends: the SDK fails, the record is partial', async () => {
  let seen: { deltas: number; error?: Error } = { deltas: 0 };
  const row = await recordOf(async () => {
    seen = await readConverseStream(bearerClient(`${gw.url}/bedrock`, TEAM_KEYS.a, 'truncated-frame'));
  });
  assert.equal(seen.deltas, CUT_AFTER_STEPS);
  assert.ok(seen.error !== undefined);
  assert.deepEqual(
    [row.source, row.operation, row.completion_tokens],
    ['partial', 'ConverseStream', CUT_AFTER_STEPS],
  );
});

test('InvokeModelWithResponseStream with a CRC-failing chunk: partial, the billed metrics after it unread', async () => {
  const row = await recordOf(async () => {
    const client = bearerClient(`${gw.url}/bedrock`, TEAM_KEYS.a, 'crc-corrupt');
    await assert.rejects(async () => {
      const out = await client.send(
        new InvokeModelWithResponseStreamCommand({ modelId: CLAUDE, body: claudeBody }),
      );
      for await (const event of out.body ?? []) void event;
    }, /checksum/);
  });
  assert.equal(row.operation, 'InvokeModelWithResponseStream');
  assert.equal(row.source, 'partial');
  assert.notEqual(row.completion_tokens, COMPLETION, 'the invocation metrics after the fault are not read');
});

test('exception events (throttlingException, modelStreamErrorException): the SDK throws them by name, no tokens billed', async () => {
  for (const [mode, name] of [
    ['throttling-exception', 'ThrottlingException'],
    ['model-stream-error', 'ModelStreamErrorException'],
  ] as const) {
    let seen: { deltas: number; error?: Error } = { deltas: 0 };
    const row = await recordOf(async () => {
      seen = await readConverseStream(bearerClient(`${gw.url}/bedrock`, TEAM_KEYS.a, mode));
    });
    assert.equal(seen.deltas, CUT_AFTER_STEPS, mode);
    assert.equal(seen.error?.name, name);
    // The stream ended with an error event, not its metadata: no counts are invented.
    assert.equal(row.prompt_tokens ?? null, null, mode);
    assert.equal(row.completion_tokens ?? null, null, mode);
  }
});

test('a client that aborts mid-ConverseStream: the upstream stream is dropped, the record is partial', async () => {
  const before = readLedgerRows(gw.ledgerPath).length;
  slow.resetStats();
  const client = bearerClient(`${gw.url}/bedrock-slow`, TEAM_KEYS.a);
  const controller = new AbortController();
  let deltas = 0;
  await assert.rejects(async () => {
    const out = await client.send(new ConverseStreamCommand({ modelId: NOVA, messages }), {
      abortSignal: controller.signal,
    });
    for await (const event of out.stream ?? []) {
      if (event.contentBlockDelta !== undefined && ++deltas === 3) controller.abort();
    }
  });
  const rows = (await waitForRows(gw.ledgerPath, before + 1)).slice(before);
  assert.equal(rows.length, 1);
  const row = rows[0];
  assert.deepEqual([row?.source, row?.operation, row?.api], ['partial', 'ConverseStream', 'bedrock-slow']);
  // At least what the client read, far less than the 200 tokens of the whole answer.
  assert.ok(
    Number(row?.completion_tokens) >= 3 && Number(row?.completion_tokens) < 200,
    String(row?.completion_tokens),
  );
  // The gateway dropped its upstream call: the simulator saw its stream aborted, counted nothing.
  for (let i = 0; i < 100 && slow.stats().errors === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual([slow.stats().errors, slow.stats().completionTokens], [1, 0]);
  // And it serves the next call.
  assert.deepEqual(await readConverseStream(bearerClient(`${gw.url}/bedrock`, TEAM_KEYS.a)), {
    deltas: COMPLETION,
  });
});
