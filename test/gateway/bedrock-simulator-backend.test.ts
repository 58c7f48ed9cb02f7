// A `simulator` backend (started inside the gateway) answers a `bedrock` API: what
// docs/bedrock-simulator.md tells users to try Bedrock with, no AWS account needed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ConverseCommand, ConverseStreamCommand } from '@aws-sdk/client-bedrock-runtime';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { bearerClient } from '../simulator/bedrock-helpers.js';
import { pick, TEAM_KEYS, waitForRows } from './bedrock-gateway-helpers.js';

const MODEL = 'us.amazon.nova-micro-v1:0';
const messages = [{ role: 'user' as const, content: [{ text: 'Hello from the demo.' }] }];
let gw: GatewayProcess;

before(async () => {
  gw = await startGatewayProcess({
    backends: [{ id: 'sim', type: 'simulator', simulator: { tokensPerSecond: 500, completionTokens: 9 } }],
    apis: [{ id: 'bedrock', path: '/bedrock', type: 'bedrock', backend: 'sim' }],
    products: [{ id: 'std', apis: ['bedrock'] }],
    subscriptions: [{ id: 'team-a', key: TEAM_KEYS.a, product: 'std' }],
  });
});
after(() => gw.stop());

test('Converse and a paced ConverseStream through a simulator backend are metered', async () => {
  const client = bearerClient(`${gw.url}/bedrock`, TEAM_KEYS.a);
  const converse = await client.send(new ConverseCommand({ modelId: MODEL, messages }));
  assert.equal(converse.usage?.outputTokens, 9);
  const stream = await client.send(new ConverseStreamCommand({ modelId: MODEL, messages }));
  let deltas = 0;
  for await (const event of stream.stream ?? []) if (event.contentBlockDelta !== undefined) deltas++;
  assert.equal(deltas, 9);
  const p = converse.usage?.inputTokens ?? 0;
  assert.ok(p > 0);
  const rows = await waitForRows(gw.ledgerPath, 2);
  // The provider dimension names the backend's type: `simulator`.
  assert.deepEqual(rows.map(pick), [
    ['simulator', 'Converse', MODEL, 0, 'reported', p, 9, p + 9, 'team-a'],
    ['simulator', 'ConverseStream', MODEL, 1, 'reported', p, 9, p + 9, 'team-a'],
  ]);
});
