// The gateway signs its upstream Bedrock calls with SigV4 (backend without apiKey): the
// simulator verifies every signature by signing the request again with @smithy/signature-v4
// from the secret (src/simulator/bedrock-auth.ts; its own tests show it accepts what the AWS SDK
// signs and refuses a changed body, key, token or date). Credentials come from the config's
// `${VAR}`s or from the standard AWS environment variables of the gateway process.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ConverseCommand, ConverseStreamCommand } from '@aws-sdk/client-bedrock-runtime';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { bearerClient } from '../simulator/bedrock-helpers.js';
import { bedrockGatewayConfig, pick, TEAM_KEYS, waitForRows } from './bedrock-gateway-helpers.js';

const CREDS = {
  accessKeyId: 'AKIDTOKENMETERTEST',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLE//session',
  region: 'eu-central-1',
};
const MODEL = 'eu.anthropic.claude-3-7-sonnet-20250219-v1:0';
const messages = [{ role: 'user' as const, content: [{ text: 'Sign this, please.' }] }];

/** Environment of a gateway child without this machine's AWS settings. */
function envWithoutAws(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('AWS_') && value !== undefined) env[name] = value;
  }
  return { ...env, ...extra };
}

let sim: Simulator;
const gateways: GatewayProcess[] = [];

before(async () => {
  sim = await startSimulator({ completionTokens: 5, bedrockAuth: { sigv4: CREDS } });
});
after(async () => {
  for (const gw of gateways) await gw.stop();
  await sim.close();
});

async function gateway(
  aws: Record<string, string> | undefined,
  env: Record<string, string>,
): Promise<GatewayProcess> {
  const gw = await startGatewayProcess(bedrockGatewayConfig({ url: sim.url, ...(aws ? { aws } : {}) }), {
    env: envWithoutAws(env),
  });
  gateways.push(gw);
  return gw;
}

/** A Converse and a ConverseStream call through `gw`; returns the stream's usage. */
async function converseBoth(gw: GatewayProcess): Promise<unknown> {
  const client = bearerClient(`${gw.url}/bedrock`, TEAM_KEYS.a);
  const converse = await client.send(new ConverseCommand({ modelId: MODEL, messages }));
  assert.equal(converse.usage?.outputTokens, 5);
  const stream = await client.send(new ConverseStreamCommand({ modelId: MODEL, messages }));
  let usage: unknown;
  for await (const event of stream.stream ?? [])
    if (event.metadata !== undefined) usage = event.metadata.usage;
  assert.deepEqual(usage, converse.usage);
  return usage;
}

/** The upstream request was signed by the gateway's credentials, and no client key went along. */
function assertSignedUpstream(): void {
  const last = sim.stats().lastRequest;
  assert.match(
    String(last?.headers.authorization),
    new RegExp(
      `^AWS4-HMAC-SHA256 Credential=${CREDS.accessKeyId}/\\d{8}/${CREDS.region}/bedrock/aws4_request`,
    ),
  );
  assert.equal(last?.headers['x-amz-security-token'], CREDS.sessionToken);
  assert.ok(!JSON.stringify(last).includes(TEAM_KEYS.a));
}

test('credentials from the config (${VAR}s): Converse and ConverseStream are signed, verified and metered', async () => {
  const gw = await gateway(
    {
      region: CREDS.region,
      accessKeyId: '${TM_TEST_AWS_KEY_ID}',
      secretAccessKey: '${TM_TEST_AWS_SECRET}',
      sessionToken: '${TM_TEST_AWS_TOKEN}',
    },
    {
      TM_TEST_AWS_KEY_ID: CREDS.accessKeyId,
      TM_TEST_AWS_SECRET: CREDS.secretAccessKey,
      TM_TEST_AWS_TOKEN: CREDS.sessionToken,
    },
  );
  sim.resetStats();
  const usage = (await converseBoth(gw)) as { inputTokens: number };
  assertSignedUpstream();
  assert.deepEqual([sim.stats().requests, sim.stats().errors], [2, 0]);
  const rows = await waitForRows(gw.ledgerPath, 2);
  const p = usage.inputTokens;
  assert.deepEqual(rows.map(pick), [
    ['bedrock', 'Converse', MODEL, 0, 'reported', p, 5, p + 5, 'team-a'],
    ['bedrock', 'ConverseStream', MODEL, 1, 'reported', p, 5, p + 5, 'team-a'],
  ]);
});

test('credentials from the standard AWS environment variables of the gateway process', async () => {
  const gw = await gateway(undefined, {
    AWS_REGION: CREDS.region,
    AWS_ACCESS_KEY_ID: CREDS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDS.secretAccessKey,
    AWS_SESSION_TOKEN: CREDS.sessionToken,
  });
  sim.resetStats();
  await converseBoth(gw);
  assertSignedUpstream();
  assert.equal(sim.stats().errors, 0);
  assert.equal((await waitForRows(gw.ledgerPath, 2)).length, 2);
});

test('a wrong secret: the upstream refuses the signature, the client gets its error, nothing is counted', async () => {
  const gw = await gateway({ ...CREDS, secretAccessKey: 'not-the-secret' }, {});
  sim.resetStats();
  const client = bearerClient(`${gw.url}/bedrock`, TEAM_KEYS.a);
  await assert.rejects(client.send(new ConverseCommand({ modelId: MODEL, messages })), {
    name: 'InvalidSignatureException',
  });
  await assert.rejects(client.send(new ConverseStreamCommand({ modelId: MODEL, messages })), {
    name: 'InvalidSignatureException',
  });
  assert.deepEqual([sim.stats().requests, sim.stats().errors, sim.stats().promptTokens], [2, 2, 0]);
  const rows = await waitForRows(gw.ledgerPath, 2);
  for (const row of rows) {
    assert.equal(row.status, 403);
    assert.equal(row.prompt_tokens ?? null, null);
    assert.equal(row.completion_tokens ?? null, null);
  }
});
