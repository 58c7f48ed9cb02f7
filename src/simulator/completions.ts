import {
  answerModel,
  azurePromptFilterChunk,
  choiceCount,
  choiceFilterResults,
  completionBudget,
  includeUsage,
  isStream,
  makeId,
  promptFilterResults,
} from './common.js';
import { dataFrame, DONE_FRAME, type StreamPlan } from './sse.js';
import { countInputTokens, generateTokens } from './text.js';
import { SimulatorHttpError, type Handler, type HandlerResult } from './types.js';

/**
 * POST completions (legacy), in the shape of openai-completions-nonstream.json.
 * `prompt` may be a string, token ids, or a batch of either; every prompt gets `n` choices,
 * numbered prompt × n + choice, and the usage covers them all. Prompt tokens are the o200k count
 * of the prompt text (token ids count one each).
 */
export const handleCompletions: Handler = (request, options): HandlerResult => {
  const { body } = request;
  const prompts = promptList(body.prompt);
  const model = answerModel(request);
  const n = choiceCount(body);
  const budget = completionBudget(options.completionTokens, body, ['max_tokens']);
  const choices = Array.from({ length: prompts * n }, (_, index) => generateTokens(budget.tokens, index));
  const usage = {
    promptTokens: countInputTokens(body.prompt),
    completionTokens: choices.length * budget.tokens,
  };
  const finishReason = budget.truncated ? 'length' : 'stop';
  const azure = request.flavor === 'azure';
  const base = {
    id: makeId('cmpl-', request.sequence),
    object: 'text_completion',
    created: request.created,
    model,
  };
  const filters = (results: Record<string, unknown>): Record<string, unknown> =>
    azure ? { content_filter_results: results } : {};
  const usageBlock = {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
  };

  if (!isStream(body)) {
    return {
      kind: 'json',
      usage,
      body: {
        ...base,
        choices: choices.map((tokens, index) => ({
          text: tokens.join(''),
          index,
          logprobs: null,
          finish_reason: finishReason,
          ...filters(choiceFilterResults()),
        })),
        usage: usageBlock,
        ...(azure ? { prompt_filter_results: promptFilterResults() } : {}),
      },
    };
  }

  const withUsage = includeUsage(body);
  const chunk = (choice: Record<string, unknown> | null, chunkUsage: unknown = null): string =>
    dataFrame({
      ...base,
      choices: choice === null ? [] : [choice],
      ...(withUsage ? { usage: chunkUsage } : {}),
    });
  const steps: string[] = [];
  for (let step = 0; step < budget.tokens; step++) {
    steps.push(
      choices
        .map((tokens, index) =>
          chunk({
            text: tokens[step] ?? '',
            index,
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
      chunk({ text: '', index, logprobs: null, finish_reason: finishReason, ...filters({}) }),
    )
    .join('');
  if (withUsage) tail += chunk(null, usageBlock);
  const plan: StreamPlan = {
    head: azure ? dataFrame(azurePromptFilterChunk()) : '',
    steps,
    tail: tail + DONE_FRAME,
  };
  return { kind: 'stream', usage, plan };
};

/** Number of prompts in a `prompt` field; 400 when it is not a prompt. */
function promptList(prompt: unknown): number {
  if (typeof prompt === 'string') return 1;
  if (Array.isArray(prompt) && prompt.length > 0) {
    if (prompt.every((p) => typeof p === 'number')) return 1;
    if (prompt.every((p) => typeof p === 'string' || Array.isArray(p))) return prompt.length;
  }
  throw new SimulatorHttpError(
    400,
    "Invalid 'prompt': expected a string, an array of strings or token arrays.",
    {
      param: 'prompt',
    },
  );
}
