import type { FramePlan } from './bedrock-eventstream.js';
import type { SimUsage } from './types.js';

/** The four Bedrock Runtime operations the simulator serves, by their path suffix. */
export type BedrockOperation = 'converse' | 'converse-stream' | 'invoke' | 'invoke-with-response-stream';

/** What building one Bedrock answer needs. */
export interface BedrockRequest {
  /** The model id of the path, decoded (a model id, an inference profile id or an ARN). */
  modelId: string;
  /** The JSON body (already checked to be an object). */
  body: Record<string, unknown>;
  /** A per-simulator sequence number, used to build ids. */
  sequence: number;
  /** Completion tokens when the request sets no smaller maximum. */
  completionTokens: number;
  /** Pacing of streams; the reported latencies are derived from it. */
  tokensPerSecond: number;
  /**
   * InvokeModel only: added to Bedrock's billed input count (headers, invocation metrics) but
   * not to the model body's own count, so that the two disagree (`x-simulator-billed-input-delta`).
   */
  billedInputDelta?: number;
}

/** A JSON answer with the headers Bedrock sends beside it. */
export interface BedrockJsonAnswer {
  kind: 'json';
  body: unknown;
  headers: Record<string, string>;
  usage: SimUsage;
}

/** An event-stream answer; `deltaType` is the event type of one token frame. */
export interface BedrockStreamAnswer {
  kind: 'stream';
  plan: FramePlan;
  deltaType: string;
  headers: Record<string, string>;
  usage: SimUsage;
}

/** What a Bedrock operation answers. */
export type BedrockAnswer = BedrockJsonAnswer | BedrockStreamAnswer;

/**
 * The latency the simulator reports (Converse `metrics.latencyMs`, InvokeModel's
 * `invocationLatency`): the time its pacing takes to generate `tokens`, at least 1 ms. Derived,
 * not measured, so that answers are deterministic.
 */
export function plannedLatencyMs(tokens: number, tokensPerSecond: number): number {
  return Math.max(1, tokensPerSecond > 0 ? Math.round((tokens * 1000) / tokensPerSecond) : 1);
}

/** A JSON object member as a record, or an empty one. */
export function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** A request id in the UUID form of Bedrock's `x-amzn-requestid`, derived from the sequence. */
export function requestId(sequence: number): string {
  return `5e0c0000-0000-4000-8000-${sequence.toString(16).padStart(12, '0')}`;
}
