import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { listen } from '../http-listen.js';
import {
  CUT_AFTER_STEPS,
  failingStream,
  failureMode,
  httpFailure,
  malformedJson,
  malformedStream,
  OPENAI_STREAM_ERROR_FRAME,
  type FailureMode,
} from './failures.js';
import type { BedrockAuthOptions } from './bedrock-auth.js';
import { matchBedrockRoute, serveBedrock } from './bedrock.js';
import { matchCohereRoute, serveCohere } from './cohere.js';
import type { FamilyCall } from './family-call.js';
import { matchGeminiRoute, serveGemini } from './gemini.js';
import { matchOllamaRoute, serveOllama } from './ollama.js';
import { attachRealtimeSimulator } from './realtime.js';
import { HANDLERS, matchRoute, type Route } from './routes.js';
import { writeStream, type StreamOutcome } from './sse.js';
import { SimulatorHttpError, type HandlerResult, type SimUsage } from './types.js';

/** Options of {@link startSimulator}. */
export interface SimulatorOptions {
  /** Generated tokens per second per choice; 0 (default) sends the whole answer at once. */
  tokensPerSecond?: number;
  /** Completion tokens per choice when the request sets no smaller maximum (default 24). */
  completionTokens?: number;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 0: any free port). */
  port?: number;
  /**
   * Caller checks of the Bedrock routes (a Bedrock API key and/or SigV4 credentials), to test
   * what a gateway sends upstream; none by default (see bedrock-auth.ts).
   */
  bedrockAuth?: BedrockAuthOptions;
  /**
   * Called for every answer the simulator finished sending, with the usage it counted (tests
   * match answers to the gateway's records by a request header).
   */
  onAnswered?: (
    request: SimulatorRequestRecord,
    usage: { promptTokens: number; completionTokens: number },
  ) => void;
}

/** The last request the simulator received, as it arrived. */
export interface SimulatorRequestRecord {
  method: string;
  /** Path and query, e.g. `/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21`. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, or the raw text when it is not JSON. */
  body: unknown;
}

/**
 * What the simulator has answered since it started (or since {@link Simulator.resetStats}).
 * Token totals add the usage of every answer the simulator finished sending — the tokens a real
 * provider would bill — whether or not the usage was on the wire (a stream without
 * `include_usage`). Failed, cut and client-aborted answers add to `requests` and `errors` only.
 */
export interface SimulatorStats {
  /** Requests received, failures included. */
  requests: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** Error answers, injected failures and streams aborted by the client. */
  errors: number;
  lastRequest?: SimulatorRequestRecord;
}

/** A running simulator. */
export interface Simulator {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:40123`. */
  url: string;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
  /** A snapshot of the counters. */
  stats(): SimulatorStats;
  /** Sets the counters back to zero. */
  resetStats(): void;
}

const DEFAULT_COMPLETION_TOKENS = 24;
const MAX_BODY_BYTES = 32 * 1024 * 1024;

/**
 * Starts a simulated OpenAI / Azure OpenAI backend on node:http. Answers are deterministic for a
 * given request: see text.ts for how prompt tokens are counted and text is generated.
 *
 * @example
 * const sim = await startSimulator({ completionTokens: 10 });
 * const client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'x' });
 * await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
 * sim.stats().completionTokens; // 10
 * await sim.close();
 */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const tokensPerSecond = options.tokensPerSecond ?? 0;
  const completionTokens = options.completionTokens ?? DEFAULT_COMPLETION_TOKENS;
  if (!Number.isFinite(tokensPerSecond) || tokensPerSecond < 0) {
    throw new RangeError('tokensPerSecond must be >= 0');
  }
  if (!Number.isInteger(completionTokens) || completionTokens < 0) {
    throw new RangeError('completionTokens must be an integer >= 0');
  }

  const state = { stats: emptyStats(), sequence: 0 };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.keepAliveTimeout = 65_000;
  // Realtime sessions (WebSocket upgrades): each upgrade is a request, each response.done an answer.
  attachRealtimeSimulator(server, {
    completionTokens,
    tokensPerSecond,
    onSession: () => {
      state.stats.requests++;
    },
    onResponse: (path, usage) => {
      answered({ method: 'GET', path, headers: {}, body: undefined }, usage);
    },
    onError: () => {
      state.stats.errors++;
    },
  });

  function answered(record: SimulatorRequestRecord, usage: SimUsage): void {
    addUsage(state.stats, usage);
    options.onAnswered?.(record, {
      promptTokens: usage.promptTokens,
      completionTokens: usage.completionTokens,
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const raw = await readBody(req);
    const record: SimulatorRequestRecord = {
      method: req.method ?? '',
      path: req.url ?? '/',
      headers: { ...req.headers },
      body: raw,
    };
    state.stats.requests++;
    state.stats.lastRequest = record;
    // Bedrock paths (`/model/{modelId}/…`) have a binary event stream and their own error shape.
    const bedrock = raw === undefined ? undefined : matchBedrockRoute(url.pathname);
    if (bedrock !== undefined && raw !== undefined) {
      const setBody = (body: Record<string, unknown>): void => {
        record.body = body;
      };
      const call = {
        req,
        res,
        raw,
        onBody: setBody,
        sequence: ++state.sequence,
        completionTokens,
        tokensPerSecond,
      };
      const usage = await serveBedrock(bedrock, {
        ...call,
        ...(options.bedrockAuth !== undefined ? { auth: options.bedrockAuth } : {}),
      });
      if (usage === undefined) state.stats.errors++;
      else answered(record, usage);
      return;
    }
    // Gemini paths (`…/models/{model}:method`) have their own framings and error shape.
    const gemini = raw === undefined ? undefined : matchGeminiRoute(url.pathname);
    if (gemini !== undefined && raw !== undefined) {
      const setBody = (body: Record<string, unknown>): void => {
        record.body = body;
      };
      const call = { req, res, url, raw, onBody: setBody, sequence: ++state.sequence };
      const usage = await serveGemini(gemini, { ...call, completionTokens, tokensPerSecond });
      if (usage === undefined) state.stats.errors++;
      else answered(record, usage);
      return;
    }
    // Cohere v2 (`/v2/…`) and Ollama (`/api/…`) have their own framings and error shapes.
    const cohere = matchCohereRoute(url.pathname);
    const ollama = matchOllamaRoute(url.pathname);
    const serveFamily =
      cohere !== undefined
        ? (call: FamilyCall) => serveCohere(cohere, call)
        : ollama !== undefined
          ? (call: FamilyCall) => serveOllama(ollama, call)
          : undefined;
    if (raw !== undefined && serveFamily !== undefined) {
      const setBody = (body: Record<string, unknown>): void => {
        record.body = body;
      };
      const sequence = ++state.sequence;
      const usage = await serveFamily({
        req,
        res,
        url,
        raw,
        onBody: setBody,
        sequence,
        completionTokens,
        tokensPerSecond,
      });
      if (usage === undefined) state.stats.errors++;
      else answered(record, usage);
      return;
    }
    let mode: FailureMode | undefined;
    let result: HandlerResult;
    let route: Route | undefined;
    try {
      if (raw === undefined) throw new SimulatorHttpError(413, 'Request body too large.');
      route = matchRoute(url.pathname);
      if (route === undefined || req.method !== 'POST') {
        throw new SimulatorHttpError(404, `Invalid URL (${req.method ?? ''} ${url.pathname})`);
      }
      if (route.requiresApiVersion && !url.searchParams.has('api-version')) {
        throw new SimulatorHttpError(404, 'Resource not found (missing api-version query parameter).', {
          code: '404',
        });
      }
      if (route.requiredHeader !== undefined && req.headers[route.requiredHeader] === undefined) {
        throw new SimulatorHttpError(400, `${route.requiredHeader}: header is required`);
      }
      const body = parseJsonObject(raw);
      record.body = body;
      mode = failureMode(req.headers);
      const failure = mode === undefined ? undefined : httpFailure(mode);
      if (failure !== undefined) throw failure;
      result = HANDLERS[route.operation](
        {
          flavor: route.flavor,
          operation: route.operation,
          ...(route.deployment !== undefined ? { deployment: route.deployment } : {}),
          body,
          created: Math.floor(Date.now() / 1000),
          sequence: ++state.sequence,
        },
        { completionTokens },
      );
      // A JSON answer has no stream to fail in: `stream-error` answers it like `500`.
      const jsonFailure = mode === 'stream-error' && result.kind === 'json' ? httpFailure('500') : undefined;
      if (jsonFailure !== undefined) throw jsonFailure;
    } catch (err) {
      state.stats.errors++;
      sendError(res, err, route?.errorBody);
      return;
    }
    const outcome = await send(res, result, mode, route.streamErrorFrame ?? OPENAI_STREAM_ERROR_FRAME);
    if (outcome === 'completed' && mode === undefined) answered(record, result.usage);
    else state.stats.errors++;
  }

  function send(
    res: ServerResponse,
    result: HandlerResult,
    mode: FailureMode | undefined,
    streamErrorFrame: string,
  ): Promise<StreamOutcome> {
    if (result.kind === 'stream') {
      const plan =
        mode === 'invalid-json'
          ? malformedStream(result.plan)
          : mode === 'stream-error'
            ? failingStream(result.plan, streamErrorFrame)
            : result.plan;
      return writeStream(res, plan, {
        tokensPerSecond,
        ...(mode === 'cut-stream' ? { cutAfterSteps: CUT_AFTER_STEPS } : {}),
      });
    }
    const json = JSON.stringify(result.body);
    const text = mode === 'invalid-json' ? malformedJson(json) : json;
    const length = Buffer.byteLength(json);
    return new Promise<StreamOutcome>((resolve) => {
      if (mode === 'cut-stream') {
        // Announce the whole body, send half of it, then drop the connection.
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': length });
        res.write(malformedJson(json), () => {
          res.destroy();
          resolve('cut');
        });
        return;
      }
      res.once('close', () => resolve(res.writableFinished ? 'completed' : 'aborted'));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  }

  const url = await listen(server, options.port ?? 0, options.host ?? '127.0.0.1');

  return {
    url,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err === undefined ? resolve() : reject(err)));
        server.closeAllConnections();
      }),
    stats: () => ({ ...state.stats }),
    resetStats: () => {
      state.stats = emptyStats();
    },
  };
}

function emptyStats(): SimulatorStats {
  return { requests: 0, promptTokens: 0, completionTokens: 0, totalTokens: 0, errors: 0 };
}

function addUsage(stats: SimulatorStats, usage: SimUsage): void {
  stats.promptTokens += usage.promptTokens;
  stats.completionTokens += usage.completionTokens;
  stats.totalTokens += usage.promptTokens + usage.completionTokens;
}

/** The request body as text; undefined when larger than MAX_BODY_BYTES. */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJsonObject(raw: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new SimulatorHttpError(
      400,
      'We could not parse the JSON body of your request. The API expects a JSON payload.',
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SimulatorHttpError(400, 'The request body must be a JSON object.');
  }
  return value as Record<string, unknown>;
}

/** Sends `err` in the route's error shape (`errorBody`), the OpenAI shape by default. */
function sendError(
  res: ServerResponse,
  err: unknown,
  errorBody: ((error: SimulatorHttpError) => unknown) | undefined,
): void {
  const error =
    err instanceof SimulatorHttpError
      ? err
      : new SimulatorHttpError(500, 'Simulator internal error.', { type: 'server_error' });
  const body = JSON.stringify(errorBody === undefined ? error.toBody() : errorBody(error));
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  };
  if (error.status === 429) headers['retry-after'] = 1;
  res.writeHead(error.status, headers);
  res.end(body);
}
