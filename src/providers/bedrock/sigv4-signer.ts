import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { BackendConfig } from '../../config/schema.js';
import { TokenmeterError } from '../../errors.js';
import type { UpstreamRequest, UpstreamSigner } from '../types.js';

/**
 * SigV4 signing of upstream Bedrock calls
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html),
 * service `bedrock`, with @smithy/signature-v4, the signer the AWS SDKs use.
 */

/** SHA-256 on node:crypto (Hmac when given a secret), the constructor SignatureV4 expects. */
class Sha256 extends Hash {
  constructor(secret?: ConstructorParameters<typeof Hash>[1]) {
    super('sha256', secret);
  }
}

/** The environment a signer reads its fallbacks from (process.env at start-up). */
export type AwsEnvironment = Readonly<Record<string, string | undefined>>;

/** Resolved signing settings of one backend. */
export interface AwsSigningSettings {
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/**
 * Headers of the client's own AWS signature, never sent on: they sign the client's request to
 * the gateway (authorization is already never forwarded, see gateway/headers.ts), and the
 * session token is a client credential.
 */
const CLIENT_SIGNATURE_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'x-amz-date',
  'x-amz-security-token',
  'x-amz-content-sha256',
]);

/**
 * Whether a header is signed: host, content-type, accept and the `x-amz-*` headers. Others
 * (user-agent, the SDK's `amz-sdk-*` retry headers) need no signature and some are rewritten
 * by proxies on the way, which would break one.
 */
function isSigned(name: string): boolean {
  return name === 'host' || name === 'content-type' || name === 'accept' || name.startsWith('x-amz-');
}

const nonEmpty = (value: string | undefined): string | undefined =>
  value === undefined || value === '' ? undefined : value;

/**
 * A backend's region and credentials: each from `backends[].aws`, else the standard AWS
 * environment variables (AWS_REGION, then AWS_DEFAULT_REGION; AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN).
 *
 * @throws TokenmeterError TM_CONFIG_INVALID naming the backend when the region or a key is missing
 */
export function resolveAwsSettings(backend: BackendConfig, env: AwsEnvironment): AwsSigningSettings {
  const aws = backend.aws;
  const region = nonEmpty(aws?.region) ?? nonEmpty(env['AWS_REGION']) ?? nonEmpty(env['AWS_DEFAULT_REGION']);
  const accessKeyId = nonEmpty(aws?.accessKeyId) ?? nonEmpty(env['AWS_ACCESS_KEY_ID']);
  const secretAccessKey = nonEmpty(aws?.secretAccessKey) ?? nonEmpty(env['AWS_SECRET_ACCESS_KEY']);
  const sessionToken = nonEmpty(aws?.sessionToken) ?? nonEmpty(env['AWS_SESSION_TOKEN']);
  const missing: string[] = [];
  if (region === undefined) missing.push('a region (aws.region, AWS_REGION or AWS_DEFAULT_REGION)');
  if (accessKeyId === undefined) missing.push('an access key id (aws.accessKeyId or AWS_ACCESS_KEY_ID)');
  if (secretAccessKey === undefined)
    missing.push('a secret access key (aws.secretAccessKey or AWS_SECRET_ACCESS_KEY)');
  if (region === undefined || accessKeyId === undefined || secretAccessKey === undefined)
    throw new TokenmeterError(
      'TM_CONFIG_INVALID',
      `Backend "${backend.id}" (bedrock) has no apiKey and lacks ${missing.join(', ')} to sign its calls with SigV4.`,
    );
  return { region, accessKeyId, secretAccessKey, ...(sessionToken !== undefined ? { sessionToken } : {}) };
}

/** A path's query as the signer wants it: name → value(s), decoded. */
function parseQuery(query: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of new URLSearchParams(query)) {
    const seen = out[name];
    out[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return out;
}

/**
 * Creates the signer of one backend. Each call: the client's signature headers are dropped,
 * the signed headers (isSigned) are signed over the body sent, and `x-amz-date`,
 * `x-amz-content-sha256`, `x-amz-security-token` (with a session token) and `authorization`
 * are added. The path is signed as sent (still URL-encoded): SigV4 encodes it once more for the
 * canonical request, as the AWS SDKs do for every service but S3.
 */
export function createSigV4Signer(settings: AwsSigningSettings): UpstreamSigner {
  const signer = new SignatureV4({
    service: 'bedrock',
    region: settings.region,
    credentials: {
      accessKeyId: settings.accessKeyId,
      secretAccessKey: settings.secretAccessKey,
      ...(settings.sessionToken !== undefined ? { sessionToken: settings.sessionToken } : {}),
    },
    sha256: Sha256,
  });
  return {
    async sign(request: UpstreamRequest): Promise<Record<string, string>> {
      const url = new URL(request.origin);
      const kept: Record<string, string> = {};
      const signed: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers)) {
        const lower = name.toLowerCase();
        if (CLIENT_SIGNATURE_HEADERS.has(lower)) continue;
        kept[lower] = value;
        if (isSigned(lower)) signed[lower] = value;
      }
      signed['host'] ??= url.host;
      const q = request.path.indexOf('?');
      const result = await signer.sign({
        method: request.method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port !== '' ? { port: Number(url.port) } : {}),
        path: q === -1 ? request.path : request.path.slice(0, q),
        query: q === -1 ? {} : parseQuery(request.path.slice(q + 1)),
        headers: signed,
        body: request.body,
      });
      for (const [name, value] of Object.entries(result.headers)) kept[name.toLowerCase()] = String(value);
      return kept;
    },
  };
}

/**
 * The upstream signer of a `bedrock` backend: none when it has an `apiKey` (a Bedrock API key,
 * sent as `Authorization: Bearer`), else SigV4 with the backend's region and credentials.
 *
 * @throws TokenmeterError TM_CONFIG_INVALID when signing is needed and something is missing
 */
export function createBedrockSigner(backend: BackendConfig, env: AwsEnvironment): UpstreamSigner | undefined {
  if (backend.apiKey !== undefined && backend.apiKey !== '') return undefined;
  return createSigV4Signer(resolveAwsSettings(backend, env));
}
