import { completionBudget, makeId } from './common.js';
import { eventFrame, padding } from './bedrock-eventstream.js';
import { bedrockError } from './bedrock-failures.js';
import { plannedLatencyMs, requestId, type BedrockAnswer, type BedrockRequest } from './bedrock-types.js';
import { countMessagesTokens, countTextTokens, generateTokens } from './text.js';

/**
 * InvokeModel and InvokeModelWithResponseStream
 * (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_InvokeModel.html): the
 * answer is the model's own body. Two model families are spoken:
 * - Anthropic Claude (`anthropic.*`, inference profiles such as `us.anthropic.*`): the Messages
 *   API shape (https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages.html),
 *   `anthropic_version` and `max_tokens` required;
 * - Meta Llama (`meta.llama*`): `{generation, prompt_token_count, generation_token_count,
 *   stop_reason}` (https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-meta.html).
 * A model id that names neither (an application inference profile ARN) is read from the body:
 * `anthropic_version` means Claude, `prompt` Llama.
 *
 * InvokeModel answers carry Bedrock's own counts in the `x-amzn-bedrock-input-token-count` /
 * `-output-token-count` headers; a stream's last model event carries them in
 * `amazon-bedrock-invocationMetrics` (`inputTokenCount`, `outputTokenCount`, `invocationLatency`,
 * `firstByteLatency`); the simulator's stats add these billed counts. The request header
 * `x-simulator-billed-input-delta: N` makes the billed input count N more than the body's (a
 * disagreement the gateway must settle in Bedrock's favour). Each stream event is a `chunk` frame whose payload is
 * `{"bytes": base64(model event JSON), "p": padding}`.
 */

type Family = 'anthropic' | 'llama';

function family(request: BedrockRequest): Family {
  const id = request.modelId;
  if (/(^|[./])anthropic\./.test(id)) return 'anthropic';
  if (/(^|[./])meta\.llama/.test(id)) return 'llama';
  if (request.body.anthropic_version !== undefined) return 'anthropic';
  if (typeof request.body.prompt === 'string') return 'llama';
  throw bedrockError(400, 'ValidationException', 'The provided model identifier is invalid.');
}

/** Answers `POST /model/{modelId}/invoke` and `/invoke-with-response-stream`. */
export function invokeAnswer(request: BedrockRequest, stream: boolean): BedrockAnswer {
  const model = family(request) === 'anthropic' ? anthropicModel(request) : llamaModel(request);
  const { tokens } = model;
  // What Bedrock bills; the model body keeps its own count (model.input).
  const input = model.input + (request.billedInputDelta ?? 0);
  const latency = plannedLatencyMs(tokens.length, request.tokensPerSecond);
  const usage = { promptTokens: input, completionTokens: tokens.length };
  if (!stream) {
    const headers = {
      'x-amzn-requestid': requestId(request.sequence),
      'x-amzn-bedrock-invocation-latency': String(latency),
      'x-amzn-bedrock-output-token-count': String(tokens.length),
      'x-amzn-bedrock-input-token-count': String(input),
    };
    return { kind: 'json', body: model.body(), headers, usage };
  }
  const metrics = {
    inputTokenCount: input,
    outputTokenCount: tokens.length,
    invocationLatency: latency,
    firstByteLatency: Math.min(latency, plannedLatencyMs(1, request.tokensPerSecond)),
  };
  let index = 0;
  const chunk = (event: unknown): Uint8Array =>
    eventFrame('chunk', {
      bytes: Buffer.from(JSON.stringify(event)).toString('base64'),
      p: padding(index++),
    });
  const events = model.events(metrics);
  const headers = {
    'x-amzn-requestid': requestId(request.sequence),
    'x-amzn-bedrock-content-type': 'application/json',
  };
  return {
    kind: 'stream',
    plan: { head: events.head.map(chunk), steps: events.steps.map(chunk), tail: events.tail.map(chunk) },
    deltaType: 'chunk',
    headers,
    usage,
  };
}

/** One model family's answer: its counts, its JSON body and its stream events. */
interface ModelAnswer {
  input: number;
  tokens: string[];
  body(): unknown;
  events(metrics: Record<string, number>): { head: unknown[]; steps: unknown[]; tail: unknown[] };
}

/** The Claude model name Bedrock answers with: the id without region prefix, vendor and version. */
function claudeName(modelId: string): string {
  const last = modelId.split('/').pop() ?? modelId;
  const name = /anthropic\.(.+?)(?:-v\d+(?::\d+)?)?$/.exec(last)?.[1];
  return name ?? last;
}

function anthropicModel(request: BedrockRequest): ModelAnswer {
  const { body } = request;
  if (body.anthropic_version === undefined) {
    throw bedrockError(
      400,
      'ValidationException',
      'Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again.',
    );
  }
  if (body.max_tokens === undefined) {
    throw bedrockError(
      400,
      'ValidationException',
      'Malformed input request: #: required key [max_tokens] not found, please reformat your input and try again.',
    );
  }
  const messages: unknown = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw bedrockError(
      400,
      'ValidationException',
      'Malformed input request: #: required key [messages] not found, please reformat your input and try again.',
    );
  }
  const all =
    body.system === undefined
      ? messages
      : [{ role: 'system', content: body.system }, ...(messages as unknown[])];
  const input = countMessagesTokens(all);
  const budget = completionBudget(request.completionTokens, body, ['max_tokens']);
  const tokens = generateTokens(budget.tokens, 0);
  const id = makeId('msg_bdrk_', request.sequence);
  const model = claudeName(request.modelId);
  const stopReason = budget.truncated ? 'max_tokens' : 'end_turn';
  return {
    input,
    tokens,
    body: () => ({
      id,
      type: 'message',
      role: 'assistant',
      model,
      content: [{ type: 'text', text: tokens.join('') }],
      stop_reason: stopReason,
      stop_sequence: null,
      usage: { input_tokens: input, output_tokens: tokens.length },
    }),
    events: (metrics) => ({
      head: [
        {
          type: 'message_start',
          message: {
            id,
            type: 'message',
            role: 'assistant',
            model,
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: { input_tokens: input, output_tokens: 1 },
          },
        },
        { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      ],
      steps: tokens.map((text) => ({
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'text_delta', text },
      })),
      tail: [
        { type: 'content_block_stop', index: 0 },
        {
          type: 'message_delta',
          delta: { stop_reason: stopReason, stop_sequence: null },
          usage: { output_tokens: tokens.length },
        },
        { type: 'message_stop', 'amazon-bedrock-invocationMetrics': metrics },
      ],
    }),
  };
}

function llamaModel(request: BedrockRequest): ModelAnswer {
  const { body } = request;
  const prompt = body.prompt;
  if (typeof prompt !== 'string' || prompt === '') {
    throw bedrockError(
      400,
      'ValidationException',
      'Malformed input request: #: required key [prompt] not found, please reformat your input and try again.',
    );
  }
  const input = countTextTokens(prompt);
  const budget = completionBudget(request.completionTokens, body, ['max_gen_len']);
  const tokens = generateTokens(budget.tokens, 0);
  const stopReason = budget.truncated ? 'length' : 'stop';
  return {
    input,
    tokens,
    body: () => ({
      generation: tokens.join(''),
      prompt_token_count: input,
      generation_token_count: tokens.length,
      stop_reason: stopReason,
    }),
    // One event per token with the running generation count; the prompt count comes once, first.
    events: (metrics) => ({
      head: [],
      steps: tokens.map((generation, i) => ({
        generation,
        prompt_token_count: i === 0 ? input : null,
        generation_token_count: i + 1,
        stop_reason: null,
      })),
      tail: [
        {
          generation: '',
          prompt_token_count: tokens.length === 0 ? input : null,
          generation_token_count: tokens.length,
          stop_reason: stopReason,
          'amazon-bedrock-invocationMetrics': metrics,
        },
      ],
    }),
  };
}
