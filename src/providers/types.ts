import type { IncomingHttpHeaders } from 'node:http';
import type { BackendConfig } from '../config/schema.js';
import type { RecordFlag } from '../ledger/record.js';
import type { TokenDetails, TokenUsage } from '../usage.js';

/**
 * The contract between the gateway core and one API family. The core never names a provider:
 * it asks the adapter "which operation is this, what model, is it streamed, add usage to the
 * stream, here is a JSON body / a stream chunk: what usage is in it?".
 */

/** A matched operation of an API. */
export interface RouteMatch {
  /** The Operation ID dimension: chat.completions, completions, embeddings, responses, … */
  operation: string;
  /** Whether calls to this route are metered (count_tokens style routes are not). */
  metered: boolean;
  /** A model named by the path (Azure deployment, Gemini model), when there is one. */
  pathModel?: string;
  /**
   * The route's path parameters, decoded once (readPathParameter), by name: Azure's
   * `deployment`, Gemini's `model` (and Vertex AI's `project`, `location`). `route.params` in
   * custom dimension expressions; absent when the route has none.
   */
  params?: Readonly<Record<string, string>>;
  /** The path to send upstream, relative to the backend URL (may equal the client's sub-path). */
  upstreamPath: string;
}

/** What the adapter reads from a parsed client request body. */
export interface RequestInfo {
  /** The model the client asked for (body model; the route's pathModel wins when present). */
  model?: string;
  /** Whether the client asked for a streamed answer. */
  stream: boolean;
  /** The end user the client named (OpenAI body `user`, Anthropic `metadata.user_id`). */
  user?: string;
  /** With `user`: the body field it was read from (`user`, `metadata.user_id`), for its source. */
  userField?: string;
  /** Whether the client itself asked for usage in the stream (stream_options.include_usage). */
  clientWantsStreamUsage: boolean;
}

/** How the upstream request body is sent. */
export interface PreparedBody {
  /** The bytes to send upstream: the client's bytes unless usage had to be requested. */
  body: Buffer;
  /** True when the gateway added a usage request the client did not make: strip its answer. */
  stripUsageChunk: boolean;
}

/** Usage read from a complete response or a finished stream. */
export interface ExtractedUsage {
  usage: TokenUsage;
  /** The model the provider says answered. */
  responseModel?: string;
  /**
   * The generated text of a complete (non-streamed) response, read only when it reports no
   * usage, for estimation. Optional: adapters whose provider always reports usage omit it.
   */
  generatedText?: string;
  /**
   * Bytes of output members (see ProviderAdapter.outputMembers) of a non-streamed answer that
   * were too large to keep, so not in `generatedText`: estimation counts them at
   * BYTES_PER_TOKEN. Set by the core's answer reader, never by an adapter.
   */
  unreadOutputBytes?: number;
  /**
   * The cost the provider itself reported for the call (OpenRouter's `usage.cost`), in the
   * provider's currency unit, kept on the record as `providerCost` beside the catalog cost.
   * Absent when the provider reports none.
   */
  providerCost?: number;
  /** How the counts divide by modality (audio, image), where the provider says so. */
  tokenDetails?: TokenDetails;
  /**
   * What the adapter had to decide to bill the call, e.g. `billed_counts_differ` when the
   * provider's billed counts (Bedrock's headers / invocation metrics) won over the model's own.
   */
  flags?: readonly RecordFlag[];
}

/** The context a stream tap is created with. */
export interface StreamTapOptions {
  /** Drop the usage-only event the gateway asked for and the client did not. */
  stripUsageChunk: boolean;
  /**
   * `gateway.maxEventBytes`: the largest event (SSE event, element of a streamed JSON array) the
   * tap buffers and reads (default 64 MiB). A larger one is forwarded as it passes, unread, and
   * the tap goes on reading the events after it; the result says `eventTooLarge`.
   */
  maxEventBytes?: number;
  /** Called once per stream, when its first event goes over `maxEventBytes` (to log it). */
  onEventTooLarge?: () => void;
  /**
   * The answer's content type as the gateway judged it (its first bytes win over a lying
   * label): a provider with several stream framings picks the tap by it.
   */
  contentType?: string;
}

/**
 * An incremental parser fed the upstream stream as it arrives. `push` returns the bytes to
 * forward to the client (the same Buffer when nothing is dropped, so pass-through costs
 * nothing); `finish` is called exactly once, at end, error or client abort.
 */
export interface StreamTap {
  push(chunk: Buffer): Buffer;
  /** Bytes held back (an incomplete event when stripping) to flush at the end of the stream. */
  flush(): Buffer;
  /** The usage seen so far (cumulative values replace earlier ones, never summed). */
  result(): StreamResult;
  /**
   * Whether the stream has reached its documented end (e.g. `data: [DONE]`); once true it stays
   * true, and nothing after the end is read, stripped or billed (it is still forwarded, byte for
   * byte). Cheap; asked after every push. The gateway then holds the last bytes back until the record is committed, so
   * the final event and the end of the response leave together, after the commit. Optional:
   * without it the end of the response alone follows the commit.
   */
  isComplete?(): boolean;
}

export interface StreamResult extends ExtractedUsage {
  /**
   * Text the model generated so far, for estimation when the provider sends no usage. Bounded
   * (MAX_GENERATED_TEXT_CHARS in generated-text.ts): an estimate counts the text kept.
   */
  generatedText: string;
  /** True when the stream reached its documented end (e.g. [DONE], response.completed). */
  completed: boolean;
  /** True when the provider signalled an error inside the stream. */
  errored: boolean;
  /**
   * True when an event before the documented end was larger than `maxEventBytes` and was
   * forwarded unread (whatever it said is not in this result).
   */
  eventTooLarge?: boolean;
  /**
   * With `eventTooLarge`: whether usage was read after the last such event (the usage changed
   * since), so that what the provider reported is whole. False when the only usage read came
   * before it: a cumulative snapshot the unread event may have superseded.
   */
  usageAfterTooLarge?: boolean;
}

/** How the backend credential is put on an upstream request. */
export interface BackendAuth {
  header: string;
  value: string;
}

export interface ProviderAdapter {
  /** The API type / backend type name used in config (openai, azure-openai, …). */
  readonly type: string;
  /**
   * The Operation IDs of the metered routes this adapter matches: a record of this API type
   * carries one of them (`tokenMetrics[].scope.operation` is checked against this list).
   */
  readonly operations: readonly string[];
  /**
   * Match a client request by method and sub-path (the path below the API's base path, with
   * query). Path parameters are read with readPathParameter (sub-path.ts): one that is not a
   * plain segment throws TokenmeterError TM_BAD_PATH, which the gateway answers with a 400.
   */
  matchRoute(method: string, subPath: string): RouteMatch | undefined;
  /**
   * Checks the whole request path of a call to an API of this type, in place of the default
   * checkRequestPath (sub-path.ts). Optional: only for an API whose path parameters may hold an
   * encoded `/` (Bedrock's model ARNs). Throws TokenmeterError TM_BAD_PATH.
   */
  checkRequestPath?(path: string): void;
  /** Read model, stream flag and user from the parsed request body. */
  inspectRequest(route: RouteMatch, body: unknown): RequestInfo;
  /** The upstream body: adds the usage request to streams where the client did not ask for it. */
  prepareBody(
    route: RouteMatch,
    info: RequestInfo,
    body: unknown,
    raw: Buffer,
    injectStreamUsage: boolean,
  ): PreparedBody;
  /**
   * Usage from a complete non-streamed JSON response body (already parsed). The core keeps only
   * the top-level members small enough to hold (src/gateway/json-answer-reader.ts): a member
   * too large (a huge `choices`, embeddings `data`) is absent from `body`. Counts are read with
   * `readCount`, so an absurd one arrives as INVALID_COUNT and is screened by the core.
   * `headers` are the answer's headers (Bedrock reports its billed counts there).
   */
  extractUsage(route: RouteMatch, body: unknown, headers?: IncomingHttpHeaders): ExtractedUsage;
  /**
   * The top-level members of a non-streamed answer that hold generated output (e.g. `choices`),
   * for estimation: when one is too large to keep, its size in bytes is estimated instead of its
   * text. Optional: without it, nothing left out is counted as output.
   */
  outputMembers?(route: RouteMatch): readonly string[];
  /**
   * Whether a response is a stream to relay through a tap. Optional: by default a response is
   * streamed when its content type is text/event-stream. Providers with other stream framings
   * (e.g. a streamed JSON array) say so here.
   */
  isStreamedResponse?(route: RouteMatch, contentType: string): boolean;
  /**
   * Removes a credential carried in the query string (e.g. `?key=`) from the sub-path before
   * anything is forwarded or logged. Optional: most providers carry keys in headers only.
   */
  takeQueryCredential?(subPath: string): { key?: string; subPath: string };
  /** A tap for a streamed response of this route. */
  createStreamTap(route: RouteMatch, options: StreamTapOptions): StreamTap;
  /** The text of the prompt, for token estimation when the provider reports no usage. */
  promptText(route: RouteMatch, body: unknown): string;
  /** The credential header a backend of this type expects. */
  backendAuth(apiKey: string): BackendAuth;
  /**
   * A signer for backends whose calls are signed rather than carrying a fixed credential
   * header (Bedrock's SigV4). Called once per backend at start-up; undefined when the backend
   * uses `backendAuth` (e.g. a Bedrock backend with an `apiKey`). Throws TokenmeterError
   * TM_CONFIG_INVALID when the backend lacks what signing needs (region, credentials).
   */
  createUpstreamSigner?(backend: BackendConfig): UpstreamSigner | undefined;
}

/** One upstream request as it will be sent, for a signer to sign. */
export interface UpstreamRequest {
  method: string;
  /** Origin of the backend (scheme, host, port). */
  origin: string;
  /** Path and query as sent upstream. */
  path: string;
  /** The headers the gateway will send (host, content-length and the forwarded client headers). */
  headers: Record<string, string>;
  body: Buffer;
}

/** Signs upstream requests: returns the headers to send (the given ones plus the signature's). */
export interface UpstreamSigner {
  sign(request: UpstreamRequest): Promise<Record<string, string>>;
}
