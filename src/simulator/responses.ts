import { answerModel, completionBudget, isStream, makeId, positiveInt } from './common.js';
import { eventFrame, type StreamPlan } from './sse.js';
import { countMessagesTokens, generateTokens } from './text.js';
import { SimulatorHttpError, type Handler, type HandlerResult, type SimRequest } from './types.js';

/**
 * POST responses (OpenAI Responses API), in the shapes of openai-responses-nonstream.json and
 * openai-responses-stream-cached-reasoning.sse. Prompt tokens count `instructions` as a system
 * message and `input` (a string or a list of items) as chat messages. When `max_output_tokens`
 * cuts the answer short the response is `incomplete` (reason max_output_tokens) and the stream
 * ends with `response.incomplete` instead of `response.completed`; both carry the usage.
 * Streams have no `[DONE]` terminator.
 */
export const handleResponses: Handler = (request, options): HandlerResult => {
  const { body } = request;
  const messages = inputMessages(body);
  const model = answerModel(request);
  const budget = completionBudget(options.completionTokens, body, ['max_output_tokens']);
  const tokens = generateTokens(budget.tokens, 0);
  const usage = { promptTokens: countMessagesTokens(messages), completionTokens: budget.tokens };
  const ids = {
    response: makeId('resp_', request.sequence),
    message: makeId('msg_', request.sequence),
  };
  const status = budget.truncated ? 'incomplete' : 'completed';
  const text = tokens.join('');
  const message = {
    id: ids.message,
    type: 'message',
    status,
    content: [{ type: 'output_text', annotations: [], logprobs: [], text }],
    role: 'assistant',
  };
  const usageBlock = {
    input_tokens: usage.promptTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: usage.completionTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: usage.promptTokens + usage.completionTokens,
  };
  const final = responseObject(request, model, ids.response, {
    status,
    output: [message],
    usage: usageBlock,
    incomplete_details: budget.truncated ? { reason: 'max_output_tokens' } : null,
  });
  if (!isStream(body)) return { kind: 'json', usage, body: final };

  let sequence = 0;
  const event = (type: string, fields: Record<string, unknown>): string =>
    eventFrame(type, { type, sequence_number: sequence++, ...fields });
  const pending = responseObject(request, model, ids.response, {
    status: 'in_progress',
    output: [],
    usage: null,
    incomplete_details: null,
  });
  const where = { item_id: ids.message, output_index: 0, content_index: 0 };
  const emptyPart = { type: 'output_text', annotations: [], logprobs: [], text: '' };
  const head =
    event('response.created', { response: pending }) +
    event('response.in_progress', { response: pending }) +
    event('response.output_item.added', {
      output_index: 0,
      item: { ...message, status: 'in_progress', content: [] },
    }) +
    event('response.content_part.added', { ...where, part: emptyPart });
  const steps = tokens.map((delta) => event('response.output_text.delta', { ...where, delta, logprobs: [] }));
  const tail =
    event('response.output_text.done', { ...where, text, logprobs: [] }) +
    event('response.content_part.done', { ...where, part: { ...emptyPart, text } }) +
    event('response.output_item.done', { output_index: 0, item: message }) +
    event(budget.truncated ? 'response.incomplete' : 'response.completed', { response: final });
  const plan: StreamPlan = { head, steps, tail };
  return { kind: 'stream', usage, plan };
};

/** The request's input as chat-like messages: instructions first, then the input items. */
function inputMessages(body: Record<string, unknown>): unknown[] {
  const messages: unknown[] = [];
  if (typeof body.instructions === 'string') messages.push({ role: 'system', content: body.instructions });
  const input = body.input;
  if (typeof input === 'string') {
    messages.push({ role: 'user', content: input });
  } else if (Array.isArray(input) && input.length > 0) {
    messages.push(...(input as unknown[]));
  } else {
    throw new SimulatorHttpError(400, "Invalid 'input': expected a string or a non-empty array.", {
      param: 'input',
    });
  }
  return messages;
}

function responseObject(
  request: SimRequest,
  model: string,
  id: string,
  state: { status: string; output: unknown[]; usage: unknown; incomplete_details: unknown },
): Record<string, unknown> {
  const { body } = request;
  return {
    id,
    object: 'response',
    created_at: request.created,
    status: state.status,
    background: false,
    error: null,
    incomplete_details: state.incomplete_details,
    instructions: typeof body.instructions === 'string' ? body.instructions : null,
    max_output_tokens: positiveInt(body, 'max_output_tokens') ?? null,
    max_tool_calls: null,
    model,
    output: state.output,
    parallel_tool_calls: true,
    previous_response_id: typeof body.previous_response_id === 'string' ? body.previous_response_id : null,
    prompt_cache_key: null,
    reasoning: { effort: null, summary: null },
    safety_identifier: null,
    service_tier: 'default',
    store: body.store !== false,
    temperature: typeof body.temperature === 'number' ? body.temperature : 1,
    text: { format: { type: 'text' }, verbosity: 'medium' },
    tool_choice: 'auto',
    tools: [],
    top_logprobs: 0,
    top_p: typeof body.top_p === 'number' ? body.top_p : 1,
    truncation: 'disabled',
    usage: state.usage,
    user: null,
    metadata: typeof body.metadata === 'object' && body.metadata !== null ? body.metadata : {},
  };
}
