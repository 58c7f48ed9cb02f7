import { SimulatorHttpError, type SimRequest } from './types.js';

/** Helpers shared by the operation handlers: request fields, ids, Azure content filters. */

/**
 * The model the answer names: the body `model`, or on Azure deployment routes the deployment.
 * The simulator echoes the requested name (real APIs answer with a dated snapshot name).
 */
export function answerModel(request: SimRequest): string {
  const model = request.body.model;
  if (typeof model === 'string' && model !== '') return model;
  if (request.deployment !== undefined) return request.deployment;
  throw new SimulatorHttpError(400, 'you must provide a model parameter', { param: 'model' });
}

/** A positive integer field of the body, or undefined when absent or not a positive integer. */
export function positiveInt(body: Record<string, unknown>, key: string): number | undefined {
  const value = body[key];
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}

/**
 * Tokens generated per choice: the configured count, or the request's maximum when smaller.
 * `truncated` is true when the maximum cut the answer short (finish_reason "length").
 */
export function completionBudget(
  configured: number,
  body: Record<string, unknown>,
  keys: readonly string[],
): { tokens: number; truncated: boolean } {
  let limit: number | undefined;
  for (const key of keys) {
    const value = positiveInt(body, key);
    if (value !== undefined) limit = limit === undefined ? value : Math.min(limit, value);
  }
  if (limit !== undefined && limit < configured) return { tokens: limit, truncated: true };
  return { tokens: configured, truncated: false };
}

/** The `n` of the request (number of choices), 1 when absent; at most 128 like the API. */
export function choiceCount(body: Record<string, unknown>): number {
  const n = body.n;
  if (n === undefined || n === null) return 1;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 128) {
    throw new SimulatorHttpError(400, `Invalid 'n': integer between 1 and 128 expected.`, { param: 'n' });
  }
  return n;
}

/** True when the request asks for a streamed answer. */
export function isStream(body: Record<string, unknown>): boolean {
  return body.stream === true;
}

/** True when a streamed request set `stream_options.include_usage: true`. */
export function includeUsage(body: Record<string, unknown>): boolean {
  const options = body.stream_options;
  return (
    typeof options === 'object' &&
    options !== null &&
    (options as Record<string, unknown>).include_usage === true
  );
}

/** An id like the API's: prefix + 29 characters derived from the request sequence. */
export function makeId(prefix: string, sequence: number): string {
  return `${prefix}SIM${sequence.toString(36).toUpperCase().padStart(26, '0')}`;
}

/** The system fingerprint the simulator reports. */
export const SYSTEM_FINGERPRINT = 'fp_simulator';

const SAFE = { filtered: false, severity: 'safe' } as const;

/**
 * Azure's per-choice `content_filter_results` for generated text, as in the Azure captures.
 * @see https://learn.microsoft.com/azure/ai-foundry/openai/concepts/content-filter
 */
export function choiceFilterResults(): Record<string, unknown> {
  return { hate: SAFE, self_harm: SAFE, sexual: SAFE, violence: SAFE };
}

/** Azure's `prompt_filter_results` for a request (one entry, prompt_index 0). */
export function promptFilterResults(): Record<string, unknown>[] {
  return [
    {
      prompt_index: 0,
      content_filter_results: {
        hate: SAFE,
        jailbreak: { filtered: false, detected: false },
        self_harm: SAFE,
        sexual: SAFE,
        violence: SAFE,
      },
    },
  ];
}

/**
 * The first chunk of an Azure chat/completions stream: only the prompt filter results, with
 * empty id/model, `created: 0`, `choices: []` and no `usage` key (azure-chat-stream-filter-usage.sse).
 */
export function azurePromptFilterChunk(): Record<string, unknown> {
  return {
    choices: [],
    created: 0,
    id: '',
    model: '',
    object: '',
    prompt_filter_results: promptFilterResults(),
  };
}

/** The usage block of chat completions, with the `*_details` objects of current API answers. */
export function chatUsage(promptTokens: number, completionTokens: number): Record<string, unknown> {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}
