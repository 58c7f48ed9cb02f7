// Upstream auth of bedrock backends: SigV4 (checked by recomputing the signature with
// @smithy/signature-v4 on a real HTTP server), the Bedrock API key as a Bearer token, and the
// start-up errors of a backend that cannot sign.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { configSchema, type BackendConfig } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import {
  bedrockAdapter,
  createBedrockSigner,
  resolveAwsSettings,
} from '../../src/providers/bedrock/index.js';
import { readLedgerRows } from '../helpers/ledger-rows.js';
import { converseStream } from './bedrock-event-stream.js';

class Sha256 extends Hash {
  constructor(secret?: ConstructorParameters<typeof Hash>[1]) {
    super('sha256', secret);
  }
}

const CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const SESSION_TOKEN = 'gateway-session-token';
const REGION = 'eu-west-3';

function backend(fields: Partial<BackendConfig>): BackendConfig {
  return configSchema.parse({
    backends: [{ id: 'aws', type: 'bedrock', url: 'http://127.0.0.1:1', ...fields }],
    apis: [{ id: 'bedrock', path: '/bedrock', type: 'bedrock', backend: 'aws' }],
    products: [{ id: 'p', apis: ['bedrock'] }],
    subscriptions: [{ id: 's', key: 'subscription-key-1', product: 'p' }],
  }).backends[0] as BackendConfig;
}

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * Recomputes the SigV4 signature of a received request with SignatureV4 (its signed headers, its
 * date, its body, its path as received) and says whether the Authorization header carries it.
 */
async function signatureMatches(request: Received, host: string): Promise<boolean> {
  const authorization = String(request.headers.authorization ?? '');
  const match =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/bedrock\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
      authorization,
    );
  if (match === null) return false;
  const [, keyId, , region, signedList] = match;
  if (keyId !== CREDENTIALS.accessKeyId || region !== REGION || signedList === undefined) return false;
  // SignatureV4 trusts x-amz-content-sha256 for the payload hash: the body is checked against it.
  if (request.headers['x-amz-content-sha256'] !== createHash('sha256').update(request.body).digest('hex'))
    return false;
  const headers: Record<string, string> = {};
  for (const name of signedList.split(';')) headers[name] = String(request.headers[name] ?? '');
  const amzDate = String(request.headers['x-amz-date']);
  const date = new Date(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
  const verifier = new SignatureV4({
    service: 'bedrock',
    region: REGION,
    credentials: { ...CREDENTIALS, sessionToken: SESSION_TOKEN },
    sha256: Sha256,
  });
  const [hostname, port] = host.split(':');
  const q = request.url.indexOf('?');
  const signed = await verifier.sign(
    {
      method: request.method,
      protocol: 'http:',
      hostname: hostname ?? '',
      ...(port !== undefined ? { port: Number(port) } : {}),
      path: q === -1 ? request.url : request.url.slice(0, q),
      query: q === -1 ? {} : Object.fromEntries(new URLSearchParams(request.url.slice(q + 1))),
      headers,
      body: request.body,
    },
    { signingDate: date },
  );
  return signed.headers['authorization'] === authorization;
}

describe('createUpstreamSigner', () => {
  test('a backend with an apiKey has no signer: the key goes as Authorization: Bearer', () => {
    assert.equal(bedrockAdapter.createUpstreamSigner?.(backend({ apiKey: 'ABSK-bedrock-key' })), undefined);
    assert.deepEqual(bedrockAdapter.backendAuth('ABSK-bedrock-key'), {
      header: 'authorization',
      value: 'Bearer ABSK-bedrock-key',
    });
  });

  test('config first, then AWS_REGION / AWS_DEFAULT_REGION and the key variables', () => {
    const env = {
      AWS_DEFAULT_REGION: 'us-west-2',
      AWS_ACCESS_KEY_ID: 'env-id',
      AWS_SECRET_ACCESS_KEY: 'env-secret',
      AWS_SESSION_TOKEN: 'env-token',
    };
    assert.deepEqual(resolveAwsSettings(backend({}), env), {
      region: 'us-west-2',
      accessKeyId: 'env-id',
      secretAccessKey: 'env-secret',
      sessionToken: 'env-token',
    });
    assert.equal(
      resolveAwsSettings(backend({}), { ...env, AWS_REGION: 'eu-central-1' }).region,
      'eu-central-1',
    );
    assert.deepEqual(
      resolveAwsSettings(
        backend({ aws: { region: 'ap-south-1', accessKeyId: 'cfg-id', secretAccessKey: 'cfg-s' } }),
        env,
      ),
      { region: 'ap-south-1', accessKeyId: 'cfg-id', secretAccessKey: 'cfg-s', sessionToken: 'env-token' },
    );
  });

  test('missing region or credentials: TM_CONFIG_INVALID naming the backend', () => {
    const cases: Record<string, string | undefined>[] = [
      {},
      { AWS_REGION: 'us-east-1' },
      { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'id' },
      { AWS_ACCESS_KEY_ID: 'id', AWS_SECRET_ACCESS_KEY: 's' },
      { AWS_REGION: '', AWS_ACCESS_KEY_ID: 'id', AWS_SECRET_ACCESS_KEY: 's' },
    ];
    for (const env of cases) {
      assert.throws(
        () => createBedrockSigner(backend({}), env),
        (err: Error & { code?: string }) => err.code === 'TM_CONFIG_INVALID' && err.message.includes('"aws"'),
        JSON.stringify(env),
      );
    }
  });
});

describe('SigV4 on the wire: a gateway in front of a real HTTP server', () => {
  let upstream: Server;
  let gw: Gateway;
  let ledgerPath: string;
  let host = '';
  const received: Received[] = [];

  before(async () => {
    upstream = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks),
        });
        if ((req.url ?? '').endsWith('/converse-stream')) {
          res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
          res.end(converseStream('Bonjour', { inputTokens: 11, outputTokens: 3, totalTokens: 14 }));
          return;
        }
        const body = JSON.stringify({
          output: { message: { role: 'assistant', content: [{ text: 'Bonjour' }] } },
          stopReason: 'end_turn',
          usage: { inputTokens: 11, outputTokens: 3, totalTokens: 14 },
          metrics: { latencyMs: 120 },
        });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    ledgerPath = join(mkdtempSync(join(tmpdir(), 'tokenmeter-bedrock-')), 'ledger.db');
    const config = configSchema.parse({
      gateway: { host: '127.0.0.1' },
      ledger: `sqlite:${ledgerPath}`,
      backends: [
        {
          id: 'aws',
          type: 'bedrock',
          url: `http://${host}`,
          aws: { region: REGION, ...CREDENTIALS, sessionToken: SESSION_TOKEN },
        },
        { id: 'aws-key', type: 'bedrock', url: `http://${host}`, apiKey: 'ABSK-gateway-bedrock-key' },
      ],
      apis: [
        { id: 'bedrock', path: '/bedrock', type: 'bedrock', backend: 'aws' },
        { id: 'bedrock-key', path: '/bedrock-key', type: 'bedrock', backend: 'aws-key' },
      ],
      products: [{ id: 'p', apis: ['bedrock', 'bedrock-key'] }],
      subscriptions: [{ id: 'team-a', key: 'subscription-key-1', product: 'p' }],
    });
    gw = await startGateway(config, {
      port: 0,
      ledgerUrl: `sqlite:${ledgerPath}`,
      logger: pino({ level: 'silent' }),
    });
  });

  after(async () => {
    await gw.close();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  });

  async function call(path: string, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(gw.url + path, {
      method: 'POST',
      headers: {
        authorization: 'Bearer subscription-key-1',
        'content-type': 'application/json',
        accept: 'application/json',
        // The client's own AWS signature headers: never forwarded, never signed.
        'x-amz-date': '20200101T000000Z',
        'x-amz-security-token': 'client-session-token',
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
        'x-amz-user-agent': 'aws-sdk-js/3',
        ...headers,
      },
      body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'Bonjour ?' }] }] }),
    });
  }

  test('Converse to an inference-profile ARN: signed by the gateway, signature verified, path as sent', async () => {
    const modelPath =
      'arn%3Aaws%3Abedrock%3Aeu-west-3%3A123456789012%3Ainference-profile%2Feu.anthropic.claude-3-5-sonnet-20240620-v1%3A0';
    const res = await call(`/bedrock/model/${modelPath}/converse`);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const req = received.at(-1);
    assert.ok(req);
    assert.equal(req.url, `/model/${modelPath}/converse`);
    assert.ok(await signatureMatches(req, host), String(req.headers.authorization));
    assert.equal(req.headers['x-amz-security-token'], SESSION_TOKEN);
    assert.notEqual(req.headers['x-amz-date'], '20200101T000000Z');
    assert.notEqual(req.headers['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD');
    const signedHeaders =
      /SignedHeaders=([^,]+)/.exec(String(req.headers.authorization))?.[1]?.split(';') ?? [];
    for (const name of signedHeaders)
      assert.ok(['host', 'content-type', 'accept'].includes(name) || name.startsWith('x-amz-'), name);
    assert.ok(signedHeaders.includes('x-amz-user-agent'));
    const row = readLedgerRows(ledgerPath).at(-1);
    assert.equal(
      row?.['model'],
      'arn:aws:bedrock:eu-west-3:123456789012:inference-profile/eu.anthropic.claude-3-5-sonnet-20240620-v1:0',
    );
    assert.equal(row?.['operation'], 'Converse');
    assert.equal(row?.['prompt_tokens'], 11);
  });

  test('ConverseStream: signed, the event stream relayed byte for byte and metered', async () => {
    const res = await call('/bedrock/model/us.amazon.nova-lite-v1%3A0/converse-stream');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/vnd.amazon.eventstream');
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.ok(bytes.equals(converseStream('Bonjour', { inputTokens: 11, outputTokens: 3, totalTokens: 14 })));
    const req = received.at(-1);
    assert.ok(req);
    assert.ok(await signatureMatches(req, host));
    const row = readLedgerRows(ledgerPath).at(-1);
    assert.equal(row?.['operation'], 'ConverseStream');
    assert.equal(row?.['model'], 'us.amazon.nova-lite-v1:0');
    assert.equal(row?.['completion_tokens'], 3);
  });

  test('a backend with a Bedrock API key: Bearer upstream, no signature, no client AWS header', async () => {
    const res = await call('/bedrock-key/model/us.amazon.nova-lite-v1%3A0/converse');
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const req = received.at(-1);
    assert.ok(req);
    assert.equal(req.headers.authorization, 'Bearer ABSK-gateway-bedrock-key');
    for (const name of ['x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256'])
      assert.equal(req.headers[name], undefined, name);
    assert.equal(req.headers['x-amz-user-agent'], 'aws-sdk-js/3');
  });

  test('a tampered body fails the verification (the check can fail)', async () => {
    const res = await call('/bedrock/model/us.amazon.nova-lite-v1%3A0/converse');
    await res.arrayBuffer();
    const req = received.at(-1);
    assert.ok(req);
    assert.equal(
      await signatureMatches({ ...req, body: Buffer.concat([req.body, Buffer.from(' ')]) }, host),
      false,
    );
  });

  test('a model id that is not one id or ARN is refused before anything is forwarded', async () => {
    const before = received.length;
    for (const bad of ['%2e%2e%2fadmin', 'us.model%2F..%2Fx', 'a%2Fb', '%00x']) {
      const res = await call(`/bedrock/model/${bad}/converse`);
      assert.equal(res.status, 400, bad);
      await res.arrayBuffer();
    }
    assert.equal(received.length, before);
  });
});
