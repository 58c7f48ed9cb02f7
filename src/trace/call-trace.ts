import type { Caller, CallerCredential } from '../auth/caller.js';
import { TokenmeterError, type ErrorCode } from '../errors.js';
import type { ResolvedDimensions } from '../gateway/call-dimensions.js';
import { DEFAULT_DIMENSION_KEYS, type RecordFlag, type UsageRecord } from '../ledger/record.js';
import type { UsageSource } from '../usage.js';

/**
 * The stages of a call, in order (DESIGN.md's flow): a refused call's trace names the stage
 * whose check refused it.
 */
export const TRACE_STAGES = [
  /** Which API serves the URL (TM_NOT_FOUND, TM_BAD_PATH). */
  'route',
  /** Subscription key, then the API's JWT (TM_UNAUTHORIZED, TM_FORBIDDEN). */
  'authenticate',
  /** Which operation of the API (TM_NOT_FOUND). */
  'operation',
  /** Whether the call can be recorded (TM_LEDGER_UNAVAILABLE). */
  'ledger',
  /** The request body (TM_BODY_TOO_LARGE, TM_BAD_JSON, TM_BAD_REQUEST). */
  'read-body',
  /** The backend and the body sent to it. */
  'backend',
  /** Default and custom dimensions. */
  'dimensions',
  /** Forwarded: the answer is relayed and the record committed. */
  'forward',
] as const;

export type TraceStage = (typeof TRACE_STAGES)[number];

/** `in-progress` until the record is committed (or a call that is not metered ends). */
export type TraceState = 'in-progress' | 'completed' | 'refused';

/** One dimension's value and where it came from (see DimensionSources in call-dimensions.ts). */
export interface TracedDimension {
  value: string | boolean;
  source: string;
}

/** What a verified JWT contributed: never the token itself. */
export interface TracedJwt {
  /** The token's `iss` claim. */
  issuer?: string;
  /** The `kid` of the key that verified the signature, when the token named one. */
  kid?: string;
  /** The API's `userClaim`, and the User ID it gave when present. */
  userClaim?: string;
  user?: string;
  /** The claims this call's dimensions used (the userClaim, and those custom dimensions read), with their values. */
  claimsUsed: Record<string, unknown>;
}

/** The JSON `GET /admin/traces/{id}` answers (docs/who-is-calling.md, "Tracing a call"). */
export interface TraceJson {
  id: string;
  /** When the call arrived (ISO 8601). */
  time: string;
  state: TraceState;
  /** The last stage the call reached. */
  stage: TraceStage;
  /** The path never carries its query string (Gemini's ?key= may be a credential). */
  request: { method: string; path: string };
  api?: string;
  operation?: string;
  /** False for an operation that is forwarded but never billed (count_tokens): no record. */
  metered?: boolean;
  subscription?: {
    id: string;
    owner?: string;
    costCenter?: string;
    metadata: Readonly<Record<string, string>>;
  };
  product?: string;
  caller?: { credential: CallerCredential; jwt?: TracedJwt };
  dimensions?: Record<string, TracedDimension>;
  custom?: Record<string, TracedDimension>;
  backend?: { id: string; type: string; upstreamPath: string };
  usage?: {
    /** The gateway asked the backend for stream usage the client did not ask for… */
    streamUsageInjected: boolean;
    /** …and removes that answer from the stream the client gets. */
    usageAnswerStripped: boolean;
    /** The record's `source` and `flags`, once committed. */
    source?: UsageSource;
    flags?: RecordFlag[];
  };
  /** The UsageRecord as committed; null until then, and for calls that are not metered. */
  record: UsageRecord | null;
  /** Present when the gateway answered with its own error before forwarding. */
  refused?: { stage: TraceStage; status: number; code: ErrorCode; message: string };
}

/**
 * The trace of one call, filled in by the proxy's stages as the call goes (each setter is
 * called at most once, in stage order). It keeps references to what the stages computed
 * anyway and builds the JSON only when asked, so a traced call costs a few assignments more.
 * It never holds the request, the response, a key or a token.
 */
export class CallTrace {
  readonly id: string;
  readonly #time: number;
  readonly #method: string;
  readonly #path: string;
  /** The claims custom dimensions read (claimsReadBy), shared by every trace. */
  readonly #claimsRead: readonly string[];
  #stage: TraceStage = 'route';
  #ended = false;
  #api: string | undefined;
  #operation: { name: string; metered: boolean } | undefined;
  #caller: Caller | undefined;
  #backend: { id: string; type: string; upstreamPath: string } | undefined;
  #streamUsageInjected = false;
  #dimensions: ResolvedDimensions | undefined;
  #record: UsageRecord | undefined;
  #refused: TraceJson['refused'];

  constructor(id: string, time: number, method: string, url: string, claimsRead: readonly string[]) {
    this.id = id;
    this.#time = time;
    this.#method = method;
    this.#path = url.split('?')[0] ?? url;
    this.#claimsRead = claimsRead;
  }

  /** The call enters `stage`. */
  reach(stage: TraceStage): void {
    this.#stage = stage;
  }

  routed(apiId: string): void {
    this.#api = apiId;
  }

  identified(caller: Caller): void {
    this.#caller = caller;
  }

  operation(name: string, metered: boolean): void {
    this.#operation = { name, metered };
  }

  /** The backend chosen; `upstreamPath` without its query; whether a stream usage request was added. */
  forwarding(
    backend: { id: string; type: string },
    upstreamPath: string,
    streamUsageInjected: boolean,
  ): void {
    this.#backend = { id: backend.id, type: backend.type, upstreamPath: upstreamPath.split('?')[0] ?? '' };
    this.#streamUsageInjected = streamUsageInjected;
  }

  dimensions(resolved: ResolvedDimensions): void {
    this.#dimensions = resolved;
  }

  /** The record as the ledger (or its fallback journal) took it. */
  recorded(record: UsageRecord): void {
    this.#record = record;
  }

  /** The gateway answered `err` instead of forwarding (anything not in the catalogue is TM_INTERNAL). */
  refuse(err: unknown): void {
    const error =
      err instanceof TokenmeterError ? err : new TokenmeterError('TM_INTERNAL', 'Internal gateway error.');
    this.#refused = { stage: this.#stage, status: error.status, code: error.code, message: error.message };
  }

  /** The call is over (its answer relayed). */
  end(): void {
    this.#ended = true;
  }

  get state(): TraceState {
    if (this.#refused !== undefined) return 'refused';
    return this.#record !== undefined || this.#ended ? 'completed' : 'in-progress';
  }

  toJSON(): TraceJson {
    const caller = this.#caller;
    const operation = this.#operation;
    const record = this.#record;
    return {
      id: this.id,
      time: new Date(this.#time).toISOString(),
      state: this.state,
      stage: this.#stage,
      request: { method: this.#method, path: this.#path },
      ...(this.#api !== undefined ? { api: this.#api } : {}),
      ...(operation !== undefined ? { operation: operation.name, metered: operation.metered } : {}),
      ...(caller !== undefined ? this.#callerJson(caller) : {}),
      ...(this.#dimensions !== undefined ? traceDimensions(this.#dimensions, record) : {}),
      ...(this.#backend !== undefined ? { backend: this.#backend, usage: this.#usageJson(record) } : {}),
      record: record ?? null,
      ...(this.#refused !== undefined ? { refused: this.#refused } : {}),
    };
  }

  #usageJson(record: UsageRecord | undefined): NonNullable<TraceJson['usage']> {
    return {
      streamUsageInjected: this.#streamUsageInjected,
      usageAnswerStripped: this.#streamUsageInjected,
      ...(record !== undefined ? { source: record.source, flags: record.flags ?? [] } : {}),
    };
  }

  #callerJson(caller: Caller): Pick<TraceJson, 'subscription' | 'product' | 'caller'> {
    const { subscription, jwt } = caller;
    return {
      subscription: {
        id: subscription.id,
        ...(subscription.owner !== undefined ? { owner: subscription.owner } : {}),
        ...(subscription.costCenter !== undefined ? { costCenter: subscription.costCenter } : {}),
        metadata: subscription.metadata,
      },
      product: subscription.product,
      caller: {
        credential: caller.credential,
        ...(jwt !== undefined ? { jwt: traceJwt(jwt, this.#claimsRead) } : {}),
      },
    };
  }
}

function traceJwt(jwt: NonNullable<Caller['jwt']>, claimsRead: readonly string[]): TracedJwt {
  const { claims } = jwt;
  const claimsUsed: Record<string, unknown> = {};
  for (const name of jwt.userClaim !== undefined ? [jwt.userClaim, ...claimsRead] : claimsRead) {
    if (Object.hasOwn(claims, name)) claimsUsed[name] = claims[name];
  }
  const issuer = claims['iss'];
  return {
    ...(typeof issuer === 'string' ? { issuer } : {}),
    ...(jwt.keyId !== undefined ? { kid: jwt.keyId } : {}),
    ...(jwt.userClaim !== undefined ? { userClaim: jwt.userClaim } : {}),
    ...(jwt.user !== undefined ? { user: jwt.user } : {}),
    claimsUsed,
  };
}

/** Every dimension with a value, and its source; the answering model once the record says it. */
function traceDimensions(
  resolved: ResolvedDimensions,
  record: UsageRecord | undefined,
): Pick<TraceJson, 'dimensions' | 'custom'> {
  const dimensions: Record<string, TracedDimension> = {};
  for (const name of DEFAULT_DIMENSION_KEYS) {
    const value = resolved.dimensions[name];
    if (value !== undefined) dimensions[name] = { value, source: resolved.sources[name] ?? 'unknown' };
  }
  if (record?.responseModel !== undefined)
    dimensions['responseModel'] = { value: record.responseModel, source: 'answer' };
  const custom: Record<string, TracedDimension> = {};
  for (const [name, value] of Object.entries(resolved.custom))
    custom[name] = { value, source: resolved.sources[name] ?? 'unknown' };
  return { dimensions, custom };
}
