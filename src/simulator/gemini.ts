import type { FamilyCall } from './family-call.js';
import { CUT_AFTER_STEPS, failureMode, malformedJson, type FailureMode } from './failures.js';
import {
  GEMINI_JSON_HEADERS,
  GEMINI_SSE_HEADERS,
  geminiSseFrame,
  geminiStreamPlan,
} from './gemini-stream.js';
import { writeStream, type StreamOutcome, type StreamPlan } from './sse.js';
import { countTextTokens, generateTokens } from './text.js';
import { SimulatorHttpError, type SimUsage } from './types.js';

/**
 * The Gemini API (https://ai.google.dev/api/generate-content), in the shapes of the gemini-*
 * captures: `POST /{v1|v1beta}/models/{model}:generateContent | :streamGenerateContent |
 * :countTokens`, and the Vertex AI publisher-model paths. Every answer and every stream chunk
 * carries a cumulative `usageMetadata`; `thoughtsTokenCount` appears when the request sets
 * `generationConfig.thinkingConfig`. Errors use Google's shape `{error: {code, message, status}}`.
 */

/** A Gemini method the simulator serves. */
export type GeminiMethod = 'generateContent' | 'streamGenerateContent' | 'countTokens';

/** A matched Gemini route: the model named by the path and the method after its `:`. */
export interface GeminiRoute {
  model: string;
  method: GeminiMethod;
}

const GEMINI_PATH =
  /^\/(?:v1(?:beta|alpha)?\/(?:models|tunedModels)|v1(?:beta1)?\/(?:projects\/[^/]+\/locations\/[^/]+\/)?publishers\/google\/models)\/([^/:]+):(generateContent|streamGenerateContent|countTokens)$/;

/** Matches a Gemini path; undefined for anything else (other providers' paths have no `:`). */
export function matchGeminiRoute(pathname: string): GeminiRoute | undefined {
  const match = GEMINI_PATH.exec(pathname);
  const method = match?.[2];
  if (match === null || method === undefined) return undefined;
  try {
    return { model: decodeURIComponent(match[1] ?? ''), method: method as GeminiMethod };
  } catch {
    return undefined;
  }
}

/** What serving one Gemini request needs from the server (the shape every family's call has). */
export type GeminiCall = FamilyCall;

/** Thinking tokens reported when thinking is on and the request sets no smaller budget. */
const THOUGHTS_TOKENS = 16;

/** Google's canonical status name of an HTTP status (https://ai.google.dev/gemini-api/docs/troubleshooting). */
function statusName(code: number): string {
  const names: Record<number, string> = {
    400: 'INVALID_ARGUMENT',
    403: 'PERMISSION_DENIED',
    404: 'NOT_FOUND',
    429: 'RESOURCE_EXHAUSTED',
    503: 'UNAVAILABLE',
  };
  return names[code] ?? (code >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT');
}

/** An error in Google's shape. */
export function googleErrorBody(code: number, message: string): { error: Record<string, unknown> } {
  return { error: { code, message, status: statusName(code) } };
}

const STREAM_ERROR = googleErrorBody(500, 'An internal error has occurred. Please retry.');

/**
 * Serves one Gemini request and resolves with the usage to add to the stats: the tokens of a
 * whole answer, zero for countTokens (it is free), undefined for errors, injected failures and
 * aborted answers.
 */
export async function serveGemini(route: GeminiRoute, call: GeminiCall): Promise<SimUsage | undefined> {
  let mode: FailureMode | undefined;
  let answer: Answer;
  try {
    if (call.req.method !== 'POST') throw new SimulatorHttpError(404, 'Method not found.');
    const body = parseBody(call.raw);
    call.onBody(body);
    mode = failureMode(call.req.headers);
    if (mode === '500' || (mode === 'stream-error' && route.method !== 'streamGenerateContent')) {
      throw new SimulatorHttpError(500, 'An internal error has occurred. Please retry.');
    }
    if (mode === '429') throw new SimulatorHttpError(429, 'Resource has been exhausted (e.g. check quota).');
    answer = buildAnswer(route, body, call);
  } catch (err) {
    const error = err instanceof SimulatorHttpError ? err : new SimulatorHttpError(500, 'Internal error.');
    const text = JSON.stringify(googleErrorBody(error.status, error.message));
    call.res.writeHead(error.status, { 'content-type': 'application/json; charset=UTF-8' });
    call.res.end(text);
    return undefined;
  }
  const outcome = await send(call, answer, mode);
  return outcome === 'completed' && mode === undefined ? answer.usage : undefined;
}

type Answer =
  | { kind: 'json'; body: unknown; usage: SimUsage }
  | { kind: 'stream'; sse: boolean; chunks: unknown[]; usage: SimUsage };

function parseBody(raw: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new SimulatorHttpError(400, 'Invalid JSON payload received.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SimulatorHttpError(400, 'Invalid JSON payload received. Expected an object.');
  }
  return value as Record<string, unknown>;
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** Prompt tokens: the o200k count of the text parts of `systemInstruction` and `contents`. */
function promptTokens(request: Record<string, unknown>): number {
  const contents: unknown = request.contents;
  if (!Array.isArray(contents) || contents.length === 0) {
    throw new SimulatorHttpError(400, '* GenerateContentRequest.contents: contents is not specified');
  }
  let total = 0;
  for (const content of [request.systemInstruction, ...(contents as unknown[])]) {
    const parts = record(content).parts;
    if (!Array.isArray(parts)) continue;
    for (const part of parts) {
      const text = record(part).text;
      if (typeof text === 'string') total += countTextTokens(text);
    }
  }
  return total;
}

/** Thinking tokens: none unless `thinkingConfig` is set; a budget of 0 turns thinking off. */
function thoughtsTokens(generationConfig: Record<string, unknown>): number | undefined {
  if (generationConfig.thinkingConfig === undefined) return undefined;
  const budget = record(generationConfig.thinkingConfig).thinkingBudget;
  if (budget === 0) return undefined;
  return typeof budget === 'number' && Number.isInteger(budget) && budget > 0
    ? Math.min(budget, THOUGHTS_TOKENS)
    : THOUGHTS_TOKENS;
}

function buildAnswer(route: GeminiRoute, body: Record<string, unknown>, call: GeminiCall): Answer {
  if (route.method === 'countTokens') {
    // countTokens takes `contents` or a whole `generateContentRequest` (https://ai.google.dev/api/tokens).
    const request = body.generateContentRequest === undefined ? body : record(body.generateContentRequest);
    const totalTokens = promptTokens(request);
    return {
      kind: 'json',
      body: { totalTokens, promptTokensDetails: [{ modality: 'TEXT', tokenCount: totalTokens }] },
      usage: { promptTokens: 0, completionTokens: 0 },
    };
  }
  const prompt = promptTokens(body);
  const config = record(body.generationConfig);
  const limit = config.maxOutputTokens;
  const truncated =
    typeof limit === 'number' && Number.isInteger(limit) && limit > 0 && limit < call.completionTokens;
  const count = truncated ? limit : call.completionTokens;
  const thoughts = thoughtsTokens(config);
  const tokens = generateTokens(count, 0);
  const usage: SimUsage = { promptTokens: prompt, completionTokens: count + (thoughts ?? 0) };
  const responseId = `sim${call.sequence.toString(36).padStart(20, '0')}`;
  const chunk = (text: string, candidates: number, finishReason?: string): Record<string, unknown> => ({
    candidates: [
      { content: { parts: [{ text }], role: 'model' }, ...(finishReason ? { finishReason } : {}), index: 0 },
    ],
    usageMetadata: {
      promptTokenCount: prompt,
      candidatesTokenCount: candidates,
      totalTokenCount: prompt + candidates + (thoughts ?? 0),
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }],
      ...(thoughts !== undefined ? { thoughtsTokenCount: thoughts } : {}),
    },
    modelVersion: route.model,
    responseId,
  });
  const finishReason = truncated ? 'MAX_TOKENS' : 'STOP';
  if (route.method === 'generateContent') {
    return { kind: 'json', body: chunk(tokens.join(''), count, finishReason), usage };
  }
  // One chunk per token, each with the usage so far, then a last one with the finishReason.
  const chunks = tokens.map((token, i) => chunk(token, i + 1));
  chunks.push(chunk('', count, finishReason));
  const alt = call.url.searchParams.get('alt') ?? call.url.searchParams.get('$alt');
  return { kind: 'stream', sse: alt === 'sse', chunks, usage };
}

function send(call: GeminiCall, answer: Answer, mode: FailureMode | undefined): Promise<StreamOutcome> {
  const { res } = call;
  if (answer.kind === 'json') {
    const json = JSON.stringify(answer.body, null, 2);
    const text = mode === 'invalid-json' || mode === 'cut-stream' ? malformedJson(json) : json;
    return new Promise((resolve) => {
      res.once('close', () => resolve(res.writableFinished ? 'completed' : 'aborted'));
      res.writeHead(200, { ...GEMINI_JSON_HEADERS, 'content-length': Buffer.byteLength(json) });
      // cut-stream announces the whole body and drops the connection after half of it.
      if (mode === 'cut-stream') res.write(text, () => res.destroy());
      else res.end(text);
    });
  }
  const plan = failingPlan(geminiStreamPlan(answer.chunks, answer.sse), answer.sse, mode);
  return writeStream(res, plan, {
    headers: answer.sse ? GEMINI_SSE_HEADERS : GEMINI_JSON_HEADERS,
    tokensPerSecond: call.tokensPerSecond,
    ...(mode === 'cut-stream' ? { cutAfterSteps: CUT_AFTER_STEPS } : {}),
  });
}

/**
 * `invalid-json`: a malformed chunk first (its braces balance, so the rest stays readable);
 * `stream-error`: Google's error object after {@link CUT_AFTER_STEPS} chunks, then the end.
 */
function failingPlan(plan: StreamPlan, sse: boolean, mode: FailureMode | undefined): StreamPlan {
  const element = (text: string): string => (sse ? `data: ${text}\r\n\r\n` : `${text},\r\n`);
  if (mode === 'invalid-json') return { ...plan, steps: [element('{"candidates": [tru]}'), ...plan.steps] };
  if (mode !== 'stream-error') return plan;
  const steps = plan.steps.slice(0, CUT_AFTER_STEPS);
  const error = sse
    ? geminiSseFrame(STREAM_ERROR)
    : `${steps.length > 0 ? ',\r\n' : ''}${JSON.stringify(STREAM_ERROR)}]`;
  return { head: plan.head, steps, tail: error };
}
