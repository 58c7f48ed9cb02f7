import type { StreamPlan } from './sse.js';

/** Which provider's wire format a route speaks. */
export type Flavor = 'openai' | 'azure' | 'anthropic';

/** The operations the simulator serves. */
export type Operation = 'chat' | 'completions' | 'embeddings' | 'responses' | 'messages' | 'count_tokens';

/** Options a {@link Handler} reads. */
export interface HandlerOptions {
  /** Completion tokens per choice when the request sets no smaller maximum. */
  completionTokens: number;
}

/** A parsed request routed to a handler. */
export interface SimRequest {
  flavor: Flavor;
  operation: Operation;
  /** The Azure deployment named by the path, when there is one. */
  deployment?: string;
  /** The JSON body (already checked to be an object). */
  body: Record<string, unknown>;
  /** Unix seconds, the `created` of the answer. */
  created: number;
  /** A per-simulator sequence number, used to build ids. */
  sequence: number;
}

/** Tokens of one answer, exactly as the answer reports them. */
export interface SimUsage {
  promptTokens: number;
  completionTokens: number;
}

/** A complete JSON answer. */
export interface JsonResult {
  kind: 'json';
  body: unknown;
  usage: SimUsage;
}

/** A streamed answer, pre-rendered as SSE frames. */
export interface StreamResult {
  kind: 'stream';
  plan: StreamPlan;
  usage: SimUsage;
}

/** What a handler returns; it never writes to the socket itself. */
export type HandlerResult = JsonResult | StreamResult;

/** Builds the answer to one request. Throws {@link SimulatorHttpError} for bad requests. */
export type Handler = (request: SimRequest, options: HandlerOptions) => HandlerResult;

/** An error answered in the OpenAI error shape `{ error: { message, type, param, code } }`. */
export class SimulatorHttpError extends Error {
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly code: string | null;

  constructor(
    status: number,
    message: string,
    details: { type?: string; param?: string; code?: string } = {},
  ) {
    super(message);
    this.name = 'SimulatorHttpError';
    this.status = status;
    this.type = details.type ?? 'invalid_request_error';
    this.param = details.param ?? null;
    this.code = details.code ?? null;
  }

  /** The response body, shaped like the OpenAI API's errors. */
  toBody(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}
