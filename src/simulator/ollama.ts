import type { ServerResponse } from 'node:http';
import { CUT_AFTER_STEPS, failureMode, type FailureMode } from './failures.js';
import { objectField, parseObjectBody, sendJson, sendJsonAnswer, type FamilyCall } from './family-call.js';
import { writeStream, type StreamOutcome, type StreamPlan } from './sse.js';
import { countInputTokens, countMessagesTokens, countTextTokens, generateTokens } from './text.js';
import { SimulatorHttpError, type SimUsage } from './types.js';

/**
 * Ollama's native API (https://docs.ollama.com/api), in the shapes of the ollama-* captures:
 * `POST /api/chat`, `/api/generate` (streamed by default as NDJSON, `application/x-ndjson`, one
 * object per token and a final `done: true` object with `prompt_eval_count`, `eval_count` and
 * durations in nanoseconds; `stream: false` answers that final object with the whole text),
 * `/api/embed` (`embeddings` and `prompt_eval_count`) and the legacy `/api/embeddings`
 * (`embedding`, no count). `think: true` adds thinking tokens (`message.thinking` / `thinking`),
 * counted in `eval_count` like Ollama does. Errors are `{"error": "..."}`.
 *
 * Failure modes (x-simulator-fail): `500`, `429`; `invalid-json`: a malformed NDJSON line after
 * {@link CUT_AFTER_STEPS} token lines, the rest of the stream after it (a JSON answer: half of
 * it); `cut-stream`: the socket is dropped after {@link CUT_AFTER_STEPS} lines;
 * `stream-error`: an `{"error": …}` line after {@link CUT_AFTER_STEPS} lines, then the end.
 */

export type OllamaEndpoint = 'chat' | 'generate' | 'embed' | 'embeddings';

const PATHS: Record<string, OllamaEndpoint> = {
  '/api/chat': 'chat',
  '/api/generate': 'generate',
  '/api/embed': 'embed',
  '/api/embeddings': 'embeddings',
};

/** Matches an Ollama path; undefined for anything else. */
export function matchOllamaRoute(pathname: string): OllamaEndpoint | undefined {
  return PATHS[pathname];
}

/** Thinking tokens generated with `think: true`. */
const THINKING_TOKENS = 8;
const NDJSON_HEADERS = { 'content-type': 'application/x-ndjson' } as const;
/** The line of a malformed NDJSON object (invalid-json mode). */
export const OLLAMA_MALFORMED_LINE = '{"model":"x","message":{"content":"unterminated\n';
const STREAM_ERROR_LINE = '{"error":"an error was encountered while running the model: unexpected EOF"}\n';
/** Nanoseconds per generated token in the reported durations (not tokens: never read as such). */
const NS_PER_TOKEN = 20_000_000;

type Answer =
  { kind: 'json'; body: unknown; usage: SimUsage } | { kind: 'stream'; plan: StreamPlan; usage: SimUsage };

/**
 * Serves one Ollama request; resolves with the usage to add to the stats, undefined for
 * errors, injected failures and aborted answers.
 */
export async function serveOllama(endpoint: OllamaEndpoint, call: FamilyCall): Promise<SimUsage | undefined> {
  let mode: FailureMode | undefined;
  let answer: Answer;
  try {
    if (call.req.method !== 'POST') throw new SimulatorHttpError(405, 'method not allowed');
    const body = parseObjectBody(call.raw);
    call.onBody(body);
    mode = failureMode(call.req.headers);
    if (mode === '500')
      throw new SimulatorHttpError(500, 'llama runner process has terminated: exit status 2');
    if (mode === '429')
      throw new SimulatorHttpError(429, 'server busy, please try again.  maximum pending requests exceeded');
    answer = buildAnswer(endpoint, body, call);
    if (mode === 'stream-error' && answer.kind === 'json')
      throw new SimulatorHttpError(500, 'unexpected EOF');
  } catch (err) {
    const error = err instanceof SimulatorHttpError ? err : new SimulatorHttpError(500, 'internal error');
    sendJson(call.res, error.status, { error: error.message });
    return undefined;
  }
  const outcome = await send(call.res, answer, mode, call.tokensPerSecond);
  return outcome === 'completed' && mode === undefined ? answer.usage : undefined;
}

function modelOf(body: Record<string, unknown>): string {
  const model = body.model;
  if (typeof model !== 'string' || model === '') throw new SimulatorHttpError(400, 'model is required');
  return model;
}

function buildAnswer(endpoint: OllamaEndpoint, body: Record<string, unknown>, call: FamilyCall): Answer {
  const model = modelOf(body);
  if (endpoint === 'embed' || endpoint === 'embeddings') return embedAnswer(endpoint, model, body);
  const chat = endpoint === 'chat';
  let prompt: number;
  if (chat) {
    if (!Array.isArray(body.messages)) throw new SimulatorHttpError(400, 'messages is required');
    prompt = countMessagesTokens(body.messages);
  } else {
    if (typeof body.prompt !== 'string') throw new SimulatorHttpError(400, 'prompt is required');
    prompt = countTextTokens(`${typeof body.system === 'string' ? body.system : ''}${body.prompt}`);
  }
  const limit = objectField(body.options).num_predict;
  const truncated =
    typeof limit === 'number' && Number.isInteger(limit) && limit > 0 && limit < call.completionTokens;
  const count = truncated ? limit : call.completionTokens;
  const thinking = body.think === true ? generateTokens(THINKING_TOKENS, 7) : [];
  const tokens = generateTokens(count, 0);
  const evalCount = thinking.length + tokens.length;
  const usage: SimUsage = { promptTokens: prompt, completionTokens: evalCount };
  const createdAt = new Date(0).toISOString();
  const piece = (text: string, thought: boolean): Record<string, unknown> =>
    chat
      ? {
          model,
          created_at: createdAt,
          message: {
            role: 'assistant',
            content: thought ? '' : text,
            ...(thought ? { thinking: text } : {}),
          },
          done: false,
        }
      : {
          model,
          created_at: createdAt,
          response: thought ? '' : text,
          ...(thought ? { thinking: text } : {}),
          done: false,
        };
  const final = (text: string, thought: string): Record<string, unknown> => ({
    model,
    created_at: createdAt,
    ...(chat
      ? { message: { role: 'assistant', content: text, ...(thought !== '' ? { thinking: thought } : {}) } }
      : { response: text, ...(thought !== '' ? { thinking: thought } : {}) }),
    done: true,
    done_reason: truncated ? 'length' : 'stop',
    total_duration: (evalCount + prompt) * NS_PER_TOKEN,
    load_duration: NS_PER_TOKEN,
    prompt_eval_count: prompt,
    prompt_eval_duration: prompt * NS_PER_TOKEN,
    eval_count: evalCount,
    eval_duration: evalCount * NS_PER_TOKEN,
  });
  if (body.stream === false) return { kind: 'json', body: final(tokens.join(''), thinking.join('')), usage };
  const steps = [...thinking.map((t) => piece(t, true)), ...tokens.map((t) => piece(t, false))].map(
    (object) => `${JSON.stringify(object)}\n`,
  );
  return { kind: 'stream', plan: { head: '', steps, tail: `${JSON.stringify(final('', ''))}\n` }, usage };
}

/** A deterministic vector of 8 floats per input (enough for a client to parse). */
function vector(seed: number): number[] {
  return Array.from({ length: 8 }, (_, i) => Math.round(Math.sin(seed * 31 + i) * 1e6) / 1e6);
}

function embedAnswer(endpoint: 'embed' | 'embeddings', model: string, body: Record<string, unknown>): Answer {
  if (endpoint === 'embeddings') {
    // Legacy: one prompt, one vector, no count (the tokens a provider would bill: the prompt's).
    if (typeof body.prompt !== 'string') throw new SimulatorHttpError(400, 'prompt is required');
    return {
      kind: 'json',
      body: { embedding: vector(1) },
      usage: { promptTokens: countTextTokens(body.prompt), completionTokens: 0 },
    };
  }
  const input = body.input;
  const inputs = typeof input === 'string' ? [input] : Array.isArray(input) ? input : undefined;
  if (inputs === undefined || !inputs.every((i) => typeof i === 'string'))
    throw new SimulatorHttpError(400, 'input must be a string or a list of strings');
  const prompt = countInputTokens(inputs);
  return {
    kind: 'json',
    body: {
      model,
      embeddings: inputs.map((_, i) => vector(i + 1)),
      total_duration: prompt * NS_PER_TOKEN,
      load_duration: NS_PER_TOKEN,
      prompt_eval_count: prompt,
    },
    usage: { promptTokens: prompt, completionTokens: 0 },
  };
}

function send(
  res: ServerResponse,
  answer: Answer,
  mode: FailureMode | undefined,
  tokensPerSecond: number,
): Promise<StreamOutcome> {
  if (answer.kind === 'json')
    return sendJsonAnswer(res, answer.body, mode, 'application/json; charset=utf-8');
  let plan = answer.plan;
  if (mode === 'invalid-json') {
    const steps = [...plan.steps];
    steps.splice(CUT_AFTER_STEPS, 0, OLLAMA_MALFORMED_LINE);
    plan = { ...plan, steps };
  } else if (mode === 'stream-error') {
    plan = { head: plan.head, steps: plan.steps.slice(0, CUT_AFTER_STEPS), tail: STREAM_ERROR_LINE };
  }
  return writeStream(res, plan, {
    headers: NDJSON_HEADERS,
    tokensPerSecond,
    ...(mode === 'cut-stream' ? { cutAfterSteps: CUT_AFTER_STEPS } : {}),
  });
}
