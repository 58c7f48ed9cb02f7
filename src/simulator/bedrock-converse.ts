import { completionBudget } from './common.js';
import { eventFrame, padding } from './bedrock-eventstream.js';
import { bedrockError } from './bedrock-failures.js';
import {
  plannedLatencyMs,
  record,
  requestId,
  type BedrockAnswer,
  type BedrockRequest,
} from './bedrock-types.js';
import { countMessagesTokens, generateTokens } from './text.js';

/**
 * Converse and ConverseStream (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html),
 * in the shapes of pydantic-ai's recordings (tests/models/cassettes/test_bedrock/test_bedrock_model.yaml
 * and test_bedrock_model_stream.yaml): the JSON answer
 * `{metrics: {latencyMs}, output: {message: {content: [{text}], role}}, stopReason, usage}` and the
 * stream `messageStart`, one `contentBlockDelta` per token, `contentBlockStop`, `messageStop`,
 * `metadata {metrics, usage}` (a text block has no `contentBlockStart`, as in the recording).
 * `usage` is `{inputTokens, outputTokens, totalTokens}`: the simulator never caches, so the cache
 * counts are absent, as Bedrock leaves them out when no cache point is set.
 */

/** Prompt tokens: `system` as a leading system message, then the messages (text.ts's formula). */
function promptTokens(body: Record<string, unknown>): number {
  const messages: unknown = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw bedrockError(
      400,
      'ValidationException',
      'A conversation must start with a user message. Try again with a conversation that starts with a user message.',
    );
  }
  const system = body.system;
  const all: readonly unknown[] =
    system === undefined ? messages : [{ role: 'system', content: system }, ...(messages as unknown[])];
  return countMessagesTokens(all);
}

/** Answers `POST /model/{modelId}/converse` and `/converse-stream`. */
export function converseAnswer(request: BedrockRequest, stream: boolean): BedrockAnswer {
  const input = promptTokens(request.body);
  const budget = completionBudget(request.completionTokens, record(request.body.inferenceConfig), [
    'maxTokens',
  ]);
  const tokens = generateTokens(budget.tokens, 0);
  const stopReason = budget.truncated ? 'max_tokens' : 'end_turn';
  const usage = { inputTokens: input, outputTokens: tokens.length, totalTokens: input + tokens.length };
  const metrics = { latencyMs: plannedLatencyMs(tokens.length, request.tokensPerSecond) };
  const headers = { 'x-amzn-requestid': requestId(request.sequence) };
  const simUsage = { promptTokens: input, completionTokens: tokens.length };
  if (!stream) {
    const body = {
      metrics,
      output: { message: { content: [{ text: tokens.join('') }], role: 'assistant' } },
      stopReason,
      usage,
    };
    return { kind: 'json', body, headers, usage: simUsage };
  }
  let index = 0;
  const frame = (type: string, payload: Record<string, unknown>): Uint8Array =>
    eventFrame(type, sortKeys({ ...payload, p: padding(index++) }));
  const head = [frame('messageStart', { role: 'assistant' })];
  const steps = tokens.map((text) => frame('contentBlockDelta', { contentBlockIndex: 0, delta: { text } }));
  const tail = [
    frame('contentBlockStop', { contentBlockIndex: 0 }),
    frame('messageStop', { stopReason }),
    frame('metadata', { metrics, usage }),
  ];
  return {
    kind: 'stream',
    plan: { head, steps, tail },
    deltaType: 'contentBlockDelta',
    headers,
    usage: simUsage,
  };
}

/** The members in alphabetical order, as Bedrock writes its event payloads. */
export function sortKeys(payload: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(payload).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
