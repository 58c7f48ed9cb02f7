import type { ProviderAdapter } from '../types.js';
import { createBedrockStreamTap } from './event-stream-tap.js';
import { bedrockPromptText, inspectBedrockRequest } from './request.js';
import { BEDROCK_OPERATIONS, checkBedrockRequestPath, matchBedrockRoute } from './routes.js';
import { createBedrockSigner } from './sigv4-signer.js';
import { extractBedrockUsage } from './usage.js';

export {
  BEDROCK_OPERATIONS,
  checkBedrockRequestPath,
  isStreamedOperation,
  matchBedrockRoute,
  readModelId,
} from './routes.js';
export { inspectBedrockRequest, bedrockPromptText } from './request.js';
export { extractBedrockUsage } from './usage.js';
export { createBedrockStreamTap } from './event-stream-tap.js';
export { createEventStreamReader, type EventStreamMessage } from './event-stream-reader.js';
export {
  normaliseCounts,
  reconcileCounts,
  readBilledHeaders,
  readConverseUsage,
  readInvocationMetrics,
  type BedrockCounts,
} from './counts.js';
export { readModelBody, type ModelFacts } from './model-body.js';
export {
  createBedrockSigner,
  createSigV4Signer,
  resolveAwsSettings,
  type AwsSigningSettings,
} from './sigv4-signer.js';

/** The content type of Bedrock's streamed answers. */
const EVENT_STREAM = 'application/vnd.amazon.eventstream';

/**
 * The `bedrock` adapter: the Bedrock Runtime API as the AWS SDKs speak it
 * (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_Operations_Amazon_Bedrock_Runtime.html).
 * Request bodies go upstream untouched; usage is read from Converse `usage`, ConverseStream's
 * `metadata` event, InvokeModel bodies and Bedrock's billed counts (token-count headers,
 * `amazon-bedrock-invocationMetrics`), which win when they disagree with the model's own.
 * Upstream calls carry the backend's Bedrock API key (`Authorization: Bearer`) or are signed
 * with SigV4 (createUpstreamSigner).
 *
 * @example
 * const route = bedrockAdapter.matchRoute('POST', '/model/us.amazon.nova-lite-v1%3A0/converse-stream');
 * // { operation: 'ConverseStream', metered: true, pathModel: 'us.amazon.nova-lite-v1:0', … }
 */
export const bedrockAdapter: ProviderAdapter = {
  type: 'bedrock',
  // CountTokens is forwarded but not metered: no record carries it.
  operations: [
    BEDROCK_OPERATIONS.converse,
    BEDROCK_OPERATIONS.converseStream,
    BEDROCK_OPERATIONS.invokeModel,
    BEDROCK_OPERATIONS.invokeModelWithResponseStream,
  ],
  matchRoute: matchBedrockRoute,
  checkRequestPath: checkBedrockRequestPath,
  inspectRequest: (route) => inspectBedrockRequest(route),
  prepareBody: (_route, _info, _body, raw) => ({ body: raw, stripUsageChunk: false }),
  extractUsage: (route, body, headers) => extractBedrockUsage(route.operation, body, headers),
  outputMembers: (route) =>
    route.operation === BEDROCK_OPERATIONS.converse
      ? ['output']
      : ['content', 'generation', 'results', 'outputs', 'generations', 'output', 'choices'],
  // The label decides: a stream operation's errors before the stream are plain JSON answers.
  isStreamedResponse: (_route, contentType) => contentType.toLowerCase().includes(EVENT_STREAM),
  createStreamTap: (route, options) => createBedrockStreamTap(route.operation, options),
  promptText: bedrockPromptText,
  backendAuth: (apiKey) => ({ header: 'authorization', value: `Bearer ${apiKey}` }),
  createUpstreamSigner: (backend) => createBedrockSigner(backend, process.env),
};
