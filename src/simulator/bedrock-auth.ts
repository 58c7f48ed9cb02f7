import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { bedrockError } from './bedrock-failures.js';

/**
 * Optional caller checks of the simulator's Bedrock routes, to test what a gateway sends
 * upstream: a Bedrock API key (`Authorization: Bearer …`,
 * https://docs.aws.amazon.com/bedrock/latest/userguide/api-keys-use.html) and/or AWS SigV4
 * signatures, verified by signing the request again with @smithy/signature-v4 from the
 * configured secret and comparing. When both are set, either one is accepted; when none is set,
 * every caller is.
 */
export interface BedrockAuthOptions {
  /** The Bedrock API key callers must send as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** The credentials SigV4 signatures must be made with. */
  sigv4?: {
    accessKeyId: string;
    secretAccessKey: string;
    /** Required in `x-amz-security-token` when set. */
    sessionToken?: string;
    /** The region of the credential scope; any region when absent. */
    region?: string;
  };
}

/** A request as the simulator received it, for the check. */
export interface ReceivedRequest {
  method: string;
  /** Path and query exactly as received (the model id stays URL-encoded). */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** SHA-256 for the signer (@smithy/hash-node's Hash, on node:crypto). */
class Sha256 extends Hash {
  constructor(secret?: ConstructorParameters<typeof Hash>[1]) {
    super('sha256', secret);
  }
}

/** How far x-amz-date may be from the simulator's clock, as AWS allows (15 minutes). */
const MAX_SKEW_MS = 15 * 60 * 1000;

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;

/** Throws the 403 Bedrock would answer when the request is not authorised; resolves otherwise. */
export async function checkBedrockAuth(
  options: BedrockAuthOptions | undefined,
  request: ReceivedRequest,
): Promise<void> {
  if (options === undefined || (options.apiKey === undefined && options.sigv4 === undefined)) return;
  const authorization = request.headers.authorization ?? '';
  if (options.apiKey !== undefined && authorization.startsWith('Bearer ')) {
    if (sameText(authorization.slice('Bearer '.length), options.apiKey)) return;
    throw bedrockError(
      403,
      'UnrecognizedClientException',
      'Invalid API Key format: Must start with pre-defined prefix',
    );
  }
  if (options.sigv4 !== undefined && authorization.startsWith('AWS4-HMAC-SHA256 ')) {
    await verifySigV4(options.sigv4, request, authorization);
    return;
  }
  throw bedrockError(403, 'AccessDeniedException', "Authorization header requires 'Credential' parameter.");
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function invalidSignature(): Error {
  return bedrockError(
    403,
    'InvalidSignatureException',
    'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
  );
}

/** x-amz-date (`20260102T030405Z`) as a Date, or undefined. */
function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}

async function verifySigV4(
  expected: NonNullable<BedrockAuthOptions['sigv4']>,
  request: ReceivedRequest,
  authorization: string,
): Promise<void> {
  const parts = AUTHORIZATION.exec(authorization);
  if (parts === null) throw invalidSignature();
  const [, keyId, day, region, service, signedList, signature] = parts as unknown as string[];
  if (keyId !== expected.accessKeyId) {
    throw bedrockError(
      403,
      'UnrecognizedClientException',
      'The security token included in the request is invalid.',
    );
  }
  if (service !== 'bedrock' || (expected.region !== undefined && region !== expected.region))
    throw invalidSignature();
  const amzDate = request.headers['x-amz-date'];
  const date = typeof amzDate === 'string' ? parseAmzDate(amzDate) : undefined;
  if (date === undefined || amzDate?.slice(0, 8) !== day) throw invalidSignature();
  if (Math.abs(Date.now() - date.getTime()) > MAX_SKEW_MS) {
    throw bedrockError(
      403,
      'InvalidSignatureException',
      'Signature expired: the request time is too far from the server time.',
    );
  }
  if (
    expected.sessionToken !== undefined &&
    request.headers['x-amz-security-token'] !== expected.sessionToken
  ) {
    throw bedrockError(
      403,
      'UnrecognizedClientException',
      'The security token included in the request is invalid.',
    );
  }
  const signed = (signedList ?? '').split(';');
  if (!signed.includes('host') || !signed.includes('x-amz-date')) throw invalidSignature();
  // A declared payload hash must be the body's: the signature covers the declared one.
  const declared = request.headers['x-amz-content-sha256'];
  if (declared !== undefined && declared !== createHash('sha256').update(request.body).digest('hex')) {
    throw invalidSignature();
  }
  const headers: Record<string, string> = {};
  for (const name of signed) {
    const value = request.headers[name];
    if (value === undefined) throw invalidSignature();
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const url = new URL(request.url, 'http://simulator');
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of url.searchParams) {
    const seen = query[name];
    query[name] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
  }
  const signer = new SignatureV4({
    service: 'bedrock',
    region: region ?? '',
    sha256: Sha256,
    credentials: {
      accessKeyId: expected.accessKeyId,
      secretAccessKey: expected.secretAccessKey,
      ...(expected.sessionToken !== undefined ? { sessionToken: expected.sessionToken } : {}),
    },
  });
  const resigned = await signer.sign(
    {
      method: request.method,
      protocol: 'http:',
      hostname: headers.host ?? '',
      path: url.pathname,
      query,
      headers,
      body: request.body,
    },
    { signingDate: date, signableHeaders: new Set(signed) },
  );
  const got = /Signature=([0-9a-f]{64})/.exec(String(resigned.headers.authorization ?? ''))?.[1] ?? '';
  if (!sameText(got, signature ?? '')) throw invalidSignature();
}
