import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { bearerClient, bedrockClient, postRaw } from './bedrock-helpers.js';

// The simulator's optional caller checks, exercised by the AWS SDK's own signer: a check that
// accepts what the SDK signs and refuses every altered part is what the gateway's upstream
// signing is then tested against (test/gateway/bedrock-sigv4.test.ts).

const API_KEY = 'bedrock-api-key-upstream';
const CREDS = {
  accessKeyId: 'AKIDSIMULATOR',
  secretAccessKey: 'simulator/secret+key',
  sessionToken: 'session-token-1',
};
const MODEL = 'amazon.nova-micro-v1:0';
const input = { modelId: MODEL, messages: [{ role: 'user' as const, content: [{ text: 'Hello' }] }] };
const body = { messages: input.messages };
const path = `/model/${encodeURIComponent(MODEL)}/converse`;

class Sha256 extends Hash {
  constructor(secret?: ConstructorParameters<typeof Hash>[1]) {
    super('sha256', secret);
  }
}

/** Headers of a request to `url` signed with `creds` at `date` (the SDK's signer, by hand). */
async function signedHeaders(
  url: string,
  payload: string,
  creds: typeof CREDS,
  date = new Date(),
): Promise<Record<string, string>> {
  const target = new URL(url);
  const signer = new SignatureV4({
    service: 'bedrock',
    region: 'us-west-2',
    sha256: Sha256,
    credentials: creds,
  });
  const signed = await signer.sign(
    {
      method: 'POST',
      protocol: 'http:',
      hostname: target.hostname,
      port: Number(target.port),
      path: target.pathname,
      query: {},
      headers: { host: target.host, 'content-type': 'application/json' },
      body: payload,
    },
    { signingDate: date },
  );
  return signed.headers;
}

const errorType = (res: { headers: Record<string, string | string[] | undefined> }): string =>
  String(res.headers['x-amzn-errortype']).split(':')[0] ?? '';

describe('simulator: Bedrock caller checks', () => {
  let sim: Simulator;
  before(async () => {
    sim = await startSimulator({ completionTokens: 3, bedrockAuth: { apiKey: API_KEY, sigv4: CREDS } });
  });
  after(() => sim.close());

  it('a Bedrock API key: the right one passes, another one and none are refused (403)', async () => {
    const ok = await bearerClient(sim.url, API_KEY).send(new ConverseCommand(input));
    assert.equal(ok.usage?.outputTokens, 3);
    await assert.rejects(bearerClient(sim.url, 'not-the-key').send(new ConverseCommand(input)), {
      name: 'UnrecognizedClientException',
    });
    const none = await postRaw(`${sim.url}${path}`, body);
    assert.deepEqual([none.status, errorType(none)], [403, 'AccessDeniedException']);
  });

  it('SigV4: what the AWS SDK signs passes; a wrong secret, key id or session token is refused', async () => {
    const ok = await bedrockClient(sim.url, { credentials: CREDS, region: 'eu-central-1' }).send(
      new ConverseCommand(input),
    );
    assert.equal(ok.usage?.outputTokens, 3);
    assert.match(
      String(sim.stats().lastRequest?.headers.authorization),
      /^AWS4-HMAC-SHA256 Credential=AKIDSIMULATOR\//,
    );
    for (const [creds, name] of [
      [{ ...CREDS, secretAccessKey: 'wrong' }, 'InvalidSignatureException'],
      [{ ...CREDS, accessKeyId: 'AKIDOTHER' }, 'UnrecognizedClientException'],
      [{ ...CREDS, sessionToken: 'other-token' }, 'UnrecognizedClientException'],
    ] as const) {
      await assert.rejects(bedrockClient(sim.url, { credentials: creds }).send(new ConverseCommand(input)), {
        name,
      });
    }
  });

  it('SigV4: a body changed after signing, a stale date or a dropped signed header are refused', async () => {
    const url = `${sim.url}${path}`;
    const payload = JSON.stringify(body);
    const good = await signedHeaders(url, payload, CREDS);
    assert.equal((await postRaw(url, payload, good)).status, 200, 'the hand-signed request passes');

    const tampered = await postRaw(
      url,
      JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'Hellp' }] }] }),
      good,
    );
    assert.deepEqual([tampered.status, errorType(tampered)], [403, 'InvalidSignatureException']);

    const stale = await signedHeaders(url, payload, CREDS, new Date(Date.now() - 20 * 60 * 1000));
    const old = await postRaw(url, payload, stale);
    assert.equal(old.status, 403);
    assert.match(old.bytes.toString('utf8'), /expired/);

    const withoutToken = Object.fromEntries(
      Object.entries(good).filter(([name]) => name !== 'x-amz-security-token'),
    );
    const dropped = await postRaw(url, payload, withoutToken);
    assert.deepEqual([dropped.status, errorType(dropped)], [403, 'UnrecognizedClientException']);

    const forged = {
      ...good,
      authorization: String(good.authorization).replace(/Signature=\w{4}/, 'Signature=0000'),
    };
    assert.equal((await postRaw(url, payload, forged)).status, 403);
  });
});
