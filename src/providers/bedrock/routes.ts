import { TokenmeterError } from '../../errors.js';
import type { RouteMatch } from '../types.js';
import { checkRequestPath, splitQuery } from '../sub-path.js';

/**
 * The Operation ID dimension values of the Bedrock Runtime API: the operation names of the API
 * reference (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_Operations_Amazon_Bedrock_Runtime.html).
 */
export const BEDROCK_OPERATIONS = {
  converse: 'Converse',
  converseStream: 'ConverseStream',
  invokeModel: 'InvokeModel',
  invokeModelWithResponseStream: 'InvokeModelWithResponseStream',
  countTokens: 'CountTokens',
} as const;

export type BedrockOperation = (typeof BEDROCK_OPERATIONS)[keyof typeof BEDROCK_OPERATIONS];

/** The last path segment of each model operation (`POST /model/{modelId}/<action>`). */
const ACTIONS: ReadonlyMap<string, BedrockOperation> = new Map([
  ['converse', BEDROCK_OPERATIONS.converse],
  ['converse-stream', BEDROCK_OPERATIONS.converseStream],
  ['invoke', BEDROCK_OPERATIONS.invokeModel],
  ['invoke-with-response-stream', BEDROCK_OPERATIONS.invokeModelWithResponseStream],
  ['count-tokens', BEDROCK_OPERATIONS.countTokens],
]);

/** The operations whose answer is an `application/vnd.amazon.eventstream` stream. */
const STREAMED: ReadonlySet<string> = new Set([
  BEDROCK_OPERATIONS.converseStream,
  BEDROCK_OPERATIONS.invokeModelWithResponseStream,
]);

/** Whether the route's answer is an event stream: the operation decides, never a body flag. */
export function isStreamedOperation(operation: string): boolean {
  return STREAMED.has(operation);
}

const MODEL_PATH = /^\/model\/(?<model>[^/]+)\/(?<action>[a-z-]+)$/;

/**
 * Whether a decoded text holds a character no model id holds: `\`, C0 and C1 controls, NUL and
 * DEL (readPathParameter's rule, without `/`, which ARNs hold).
 */
function hasForbiddenCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code <= 0x1f || (code >= 0x7f && code <= 0x9f) || code === 0x5c) return true;
  }
  return false;
}

function badPath(why: string): TokenmeterError {
  // The value itself is not echoed: it may hold control characters.
  return new TokenmeterError('TM_BAD_PATH', `The modelId in the request path ${why}.`);
}

/**
 * Decodes the `{modelId}` segment exactly once. A model id is a base model id
 * (`anthropic.claude-3-haiku-20240307-v1:0`), an inference profile id
 * (`us.anthropic.claude-3-5-sonnet-20240620-v1:0`) or an ARN
 * (`arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.…`,
 * `…:provisioned-model/abc`, `…:application-inference-profile/xyz`); the SDKs send it
 * URL-encoded as one segment (`%3A`, `%2F`). Unlike other path parameters, a decoded `/` is
 * allowed, but only inside an ARN and never as a `.` or `..` part or an empty one, so that no
 * backend decoding the segment once can read a different resource than the one metered.
 *
 * @throws TokenmeterError TM_BAD_PATH (400) for anything else, malformed escapes included
 * @example
 * readModelId('us.anthropic.claude-3-5-haiku-20241022-v1%3A0'); // 'us.anthropic.claude-3-5-haiku-20241022-v1:0'
 */
export function readModelId(segment: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    throw badPath('holds a malformed %-escape');
  }
  if (decoded === '') throw badPath('is empty');
  if (hasForbiddenCharacter(decoded)) throw badPath('holds a control character or a backslash');
  const parts = decoded.split('/');
  if (parts.some((part) => part === '.' || part === '..')) throw badPath('is a dot segment');
  if (parts.length > 1 && (!decoded.startsWith('arn:') || parts.some((part) => part === '')))
    throw badPath('holds a separator outside an ARN');
  return decoded;
}

/**
 * Matches `POST /model/{modelId}/converse | converse-stream | invoke |
 * invoke-with-response-stream` (metered) and `/model/{modelId}/count-tokens` (forwarded, not
 * billed: counting tokens is free). The decoded model id is the `model` dimension
 * (`pathModel`, `params.modelId`); the path goes upstream as the client sent it, still encoded,
 * since that is what its signature (if any) and Bedrock's routing read. Anything else is not a
 * route of this API.
 *
 * @throws TokenmeterError TM_BAD_PATH for a model id that is not one plain id or ARN
 */
export function matchBedrockRoute(method: string, subPath: string): RouteMatch | undefined {
  if (method.toUpperCase() !== 'POST') return undefined;
  const { path } = splitQuery(subPath);
  const groups = MODEL_PATH.exec(path)?.groups;
  if (groups === undefined) return undefined;
  const operation = ACTIONS.get(groups['action'] ?? '');
  if (operation === undefined) return undefined;
  const modelId = readModelId(groups['model'] ?? '');
  return {
    operation,
    metered: operation !== BEDROCK_OPERATIONS.countTokens,
    pathModel: modelId,
    params: { modelId },
    upstreamPath: subPath,
  };
}

/**
 * The gateway's check of a whole request path under a Bedrock API: checkRequestPath's rules
 * (sub-path.ts: no dot segment, no `\`, no control character, raw or encoded), except that an
 * encoded `/` may appear inside a segment that is an ARN (the model id); each of its parts is
 * still checked, so `%2e%2e%2f` is refused.
 *
 * @throws TokenmeterError TM_BAD_PATH (400)
 */
export function checkBedrockRequestPath(path: string): void {
  checkRequestPath(path, { slashAllowedIn: (segment) => segment.startsWith('arn:') });
}
