import {
  answerModel,
  azurePromptFilterChunk,
  chatUsage,
  choiceCount,
  choiceFilterResults,
  completionBudget,
  includeUsage,
  isStream,
  makeId,
  promptFilterResults,
  SYSTEM_FINGERPRINT,
} from './common.js';
import { dataFrame, DONE_FRAME, type StreamPlan } from './sse.js';
import { countMessagesTokens, generateTokens } from './text.js';
import { SimulatorHttpError, type Handler, type HandlerResult } from './types.js';

/**
 * POST chat/completions, in the shapes of openai-chat-nonstream.json,
 * openai-chat-stream-usage.sse / -no-usage.sse and the Azure captures.
 * Usage covers all `n` choices: completion_tokens = n × tokens per choice.
 */
export const handleChat: Handler = (request, options): HandlerResult => {
  const { body } = request;
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw new SimulatorHttpError(400, "Invalid 'messages': expected a non-empty array.", {
      param: 'messages',
    });
  }
  const model = answerModel(request);
  const n = choiceCount(body);
  const budget = completionBudget(options.completionTokens, body, ['max_tokens', 'max_completion_tokens']);
  const usage = { promptTokens: countMessagesTokens(body.messages), completionTokens: n * budget.tokens };
  const finishReason = budget.truncated ? 'length' : 'stop';
  const choices = Array.from({ length: n }, (_, index) => generateTokens(budget.tokens, index));
  const ctx: ChatContext = {
    id: makeId('chatcmpl-', request.sequence),
    created: request.created,
    model,
    azure: request.flavor === 'azure',
  };
  if (isStream(body)) {
    return { kind: 'stream', usage, plan: chatStream(ctx, choices, finishReason, includeUsage(body), usage) };
  }
  return { kind: 'json', usage, body: chatJson(ctx, choices, finishReason, usage) };
};

interface ChatContext {
  id: string;
  created: number;
  model: string;
  azure: boolean;
}

function chatJson(
  ctx: ChatContext,
  choices: string[][],
  finishReason: string,
  usage: { promptTokens: number; completionTokens: number },
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: ctx.id,
    object: 'chat.completion',
    created: ctx.created,
    model: ctx.model,
    choices: choices.map((tokens, index) => ({
      index,
      message: { role: 'assistant', content: tokens.join(''), refusal: null, annotations: [] },
      logprobs: null,
      finish_reason: finishReason,
      ...(ctx.azure ? { content_filter_results: choiceFilterResults() } : {}),
    })),
    usage: chatUsage(usage.promptTokens, usage.completionTokens),
    system_fingerprint: SYSTEM_FINGERPRINT,
  };
  if (ctx.azure) out.prompt_filter_results = promptFilterResults();
  else out.service_tier = 'default';
  return out;
}

function chatStream(
  ctx: ChatContext,
  choices: string[][],
  finishReason: string,
  withUsage: boolean,
  usage: { promptTokens: number; completionTokens: number },
): StreamPlan {
  // With include_usage every chunk carries "usage": null until the usage chunk
  // (openai-chat-stream-usage.sse); without it there is no usage key at all (-no-usage.sse).
  const chunk = (choice: Record<string, unknown> | null, chunkUsage: unknown = null): string =>
    dataFrame({
      id: ctx.id,
      object: 'chat.completion.chunk',
      created: ctx.created,
      model: ctx.model,
      ...(ctx.azure ? {} : { service_tier: 'default' }),
      system_fingerprint: SYSTEM_FINGERPRINT,
      choices: choice === null ? [] : [choice],
      ...(withUsage ? { usage: chunkUsage } : {}),
    });
  const filters = (results: Record<string, unknown>): Record<string, unknown> =>
    ctx.azure ? { content_filter_results: results } : {};

  let head = ctx.azure ? dataFrame(azurePromptFilterChunk()) : '';
  choices.forEach((_, index) => {
    head += chunk({
      index,
      delta: { role: 'assistant', content: '', refusal: null },
      logprobs: null,
      finish_reason: null,
      ...filters({}),
    });
  });
  const length = choices[0]?.length ?? 0;
  const steps: string[] = [];
  for (let step = 0; step < length; step++) {
    // The n choices interleave, one chunk per choice per token (openai-chat-stream-n3-usage.sse).
    steps.push(
      choices
        .map((tokens, index) =>
          chunk({
            index,
            delta: { content: tokens[step] ?? '' },
            logprobs: null,
            finish_reason: null,
            ...filters(choiceFilterResults()),
          }),
        )
        .join(''),
    );
  }
  let tail = choices
    .map((_, index) =>
      chunk({ index, delta: {}, logprobs: null, finish_reason: finishReason, ...filters({}) }),
    )
    .join('');
  if (withUsage) tail += chunk(null, chatUsage(usage.promptTokens, usage.completionTokens));
  return { head, steps, tail: tail + DONE_FRAME };
}
