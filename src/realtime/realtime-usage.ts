import { invalidUsageFields, readCount, type TokenDetails, type TokenUsage } from '../usage.js';

/**
 * Reading the usage of an OpenAI / Azure OpenAI Realtime session (docs/realtime.md). Each
 * `response.done` server event carries the usage of that one response
 * (https://platform.openai.com/docs/api-reference/realtime-server-events/response/done):
 * the counts are per response, never cumulative over the session, so each is one record.
 */

/** The usage of one finished Realtime response. */
export interface RealtimeResponseUsage {
  usage: TokenUsage;
  tokenDetails?: TokenDetails;
  /** `response.status`: completed, cancelled, failed, incomplete (absent when not sent). */
  status?: string;
  /** `response.id`, for the logs. */
  responseId?: string;
  /** The counts held a value that is not a count: they were dropped (record flagged usage_invalid). */
  invalid: boolean;
}

/**
 * Whether a server text frame may be a `response.created` or `response.done` event, without
 * parsing it: either type's literal appears in the frame, or the frame holds a `\\u` escape
 * that could spell one another way. Every other frame (the deltas, the bulk of a session)
 * costs two substring scans and no parse.
 */
export function mayBeResponseEvent(text: string): boolean {
  return text.includes('response.done') || text.includes('response.created') || text.includes('\\u');
}

/** The event when `text` is a JSON object, else undefined (not JSON, not an object). */
export function parseServerEvent(text: string): Record<string, unknown> | undefined {
  let event: unknown;
  try {
    event = JSON.parse(text);
  } catch {
    return undefined;
  }
  return isObject(event) ? event : undefined;
}

/**
 * The usage of a `response.done` event: input_tokens → promptTokens (text, audio and image,
 * cached included), output_tokens → completionTokens (text and audio), total_tokens,
 * input_token_details.cached_tokens → cachedTokens; the audio / image parts into tokenDetails.
 * A response without `usage` (or `usage: null`) yields no counts (not zeros).
 */
export function readRealtimeUsage(event: Record<string, unknown>): RealtimeResponseUsage {
  const response = isObject(event['response']) ? event['response'] : {};
  const usage = isObject(response['usage']) ? response['usage'] : {};
  const input = isObject(usage['input_token_details']) ? usage['input_token_details'] : {};
  const output = isObject(usage['output_token_details']) ? usage['output_token_details'] : {};
  const cachedDetails = isObject(input['cached_tokens_details']) ? input['cached_tokens_details'] : {};
  const counts: TokenUsage = {};
  setCount(counts, 'promptTokens', usage['input_tokens']);
  setCount(counts, 'completionTokens', usage['output_tokens']);
  setCount(counts, 'totalTokens', usage['total_tokens']);
  setCount(counts, 'cachedTokens', input['cached_tokens']);
  const details: TokenDetails = {};
  setCount(details, 'audioPromptTokens', input['audio_tokens']);
  setCount(details, 'cachedAudioTokens', cachedDetails['audio_tokens']);
  setCount(details, 'imagePromptTokens', input['image_tokens']);
  setCount(details, 'audioCompletionTokens', output['audio_tokens']);
  const invalid =
    invalidUsageFields(counts).length > 0 ||
    Object.values(details).some((value) => !Number.isSafeInteger(value) || value < 0);
  const status = typeof response['status'] === 'string' ? response['status'] : undefined;
  const responseId = typeof response['id'] === 'string' ? response['id'] : undefined;
  return {
    usage: invalid ? {} : counts,
    ...(!invalid && Object.keys(details).length > 0 ? { tokenDetails: details } : {}),
    ...(status !== undefined ? { status } : {}),
    ...(responseId !== undefined ? { responseId } : {}),
    invalid,
  };
}

function setCount<T extends object>(target: T, key: keyof T, value: unknown): void {
  const count = readCount(value);
  if (count !== undefined) (target as Record<keyof T, number>)[key] = count;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
