import type { ServerResponse } from 'node:http';
import { CUT_AFTER_STEPS, failureMode, type FailureMode } from './failures.js';
import { parseObjectBody, sendJson, sendJsonAnswer, type FamilyCall } from './family-call.js';
import { SSE_HEADERS, writeStream, type StreamOutcome, type StreamPlan } from './sse.js';
import { collectText, countInputTokens, countTextTokens, generateTokens } from './text.js';
import { SimulatorHttpError, type SimUsage } from './types.js';

/**
 * Cohere's v2 API (https://docs.cohere.com/reference/chat), in the shapes of the cohere-*
 * captures: `POST /v2/chat` (a JSON answer, or with `stream: true` server-sent events
 * `event: <type>` / `data: {…}` from message-start to message-end, then `data: [DONE]`),
 * `/v2/embed` (`meta.billed_units.input_tokens`) and `/v2/rerank` (`search_units`). Usage is
 * deterministic: `billed_units` counts the text of the messages and the generated tokens;
 * `tokens` adds {@link TEMPLATE_TOKENS} of chat template to the input, as Cohere's own count does
 * (the captures: billed 4, tokens 70). The stats count the billed units. Errors are
 * `{"id", "message"}`.
 *
 * Failure modes (x-simulator-fail): `500`, `429`; `invalid-json`: a malformed `data:` event
 * first (a JSON answer: half of it); `cut-stream`: the socket is dropped after
 * {@link CUT_AFTER_STEPS} deltas; `stream-error`: after {@link CUT_AFTER_STEPS} deltas,
 * `message-end` with `finish_reason` ERROR and no usage.
 */

export type CohereEndpoint = 'chat' | 'embed' | 'rerank';

const PATHS: Record<string, CohereEndpoint> = {
  '/v2/chat': 'chat',
  '/v2/embed': 'embed',
  '/v2/rerank': 'rerank',
};

/** Matches a Cohere v2 path; undefined for anything else. */
export function matchCohereRoute(pathname: string): CohereEndpoint | undefined {
  return PATHS[pathname];
}

/** Input tokens of the chat template that Cohere counts in `tokens` and does not bill. */
export const TEMPLATE_TOKENS = 66;

type Answer =
  { kind: 'json'; body: unknown; usage: SimUsage } | { kind: 'stream'; plan: StreamPlan; usage: SimUsage };

/** Serves one Cohere request; resolves with the billed usage, undefined for errors and failures. */
export async function serveCohere(endpoint: CohereEndpoint, call: FamilyCall): Promise<SimUsage | undefined> {
  let mode: FailureMode | undefined;
  let answer: Answer;
  const id = `sim-${call.sequence.toString(16).padStart(8, '0')}`;
  try {
    if (call.req.method !== 'POST') throw new SimulatorHttpError(404, 'not found');
    const body = parseObjectBody(call.raw);
    call.onBody(body);
    mode = failureMode(call.req.headers);
    if (mode === '500')
      throw new SimulatorHttpError(500, 'internal server error, this has been reported to our developers');
    if (mode === '429')
      throw new SimulatorHttpError(
        429,
        'You are using a Trial key, which is limited to 10 API calls / minute.',
      );
    answer = buildAnswer(endpoint, body, id, call.completionTokens);
    if (mode === 'stream-error' && answer.kind === 'json')
      throw new SimulatorHttpError(500, 'internal server error');
  } catch (err) {
    const error =
      err instanceof SimulatorHttpError ? err : new SimulatorHttpError(500, 'internal server error');
    sendJson(call.res, error.status, { id, message: error.message });
    return undefined;
  }
  const outcome = await send(call.res, answer, mode, call.tokensPerSecond);
  return outcome === 'completed' && mode === undefined ? answer.usage : undefined;
}

function buildAnswer(
  endpoint: CohereEndpoint,
  body: Record<string, unknown>,
  id: string,
  completionTokens: number,
): Answer {
  if (typeof body.model !== 'string' || body.model === '')
    throw new SimulatorHttpError(400, 'invalid request: model is required');
  if (endpoint === 'embed') {
    const texts = body.texts;
    if (!Array.isArray(texts) || !texts.every((t) => typeof t === 'string'))
      throw new SimulatorHttpError(400, 'invalid request: texts must be a list of strings');
    const input = countInputTokens(texts);
    return {
      kind: 'json',
      body: {
        id,
        embeddings: { float: texts.map((_, i) => [0.1 * (i + 1), -0.2, 0.3]) },
        texts,
        meta: { api_version: { version: '2' }, billed_units: { input_tokens: input } },
      },
      usage: { promptTokens: input, completionTokens: 0 },
    };
  }
  if (endpoint === 'rerank') {
    const documents = Array.isArray(body.documents) ? body.documents : [];
    return {
      kind: 'json',
      body: {
        id,
        results: documents.map((_, index) => ({ index, relevance_score: 1 / (index + 2) })),
        meta: { api_version: { version: '2' }, billed_units: { search_units: 1 } },
      },
      // Search units are not tokens: nothing for the token totals.
      usage: { promptTokens: 0, completionTokens: 0 },
    };
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    throw new SimulatorHttpError(400, 'invalid request: messages must not be empty');
  const input = countTextTokens(collectText(body.messages).join('\n'));
  const max = body.max_tokens;
  const truncated = typeof max === 'number' && Number.isInteger(max) && max > 0 && max < completionTokens;
  const output = truncated ? max : completionTokens;
  const tokens = generateTokens(output, 0);
  const usage = {
    billed_units: { input_tokens: input, output_tokens: output },
    tokens: { input_tokens: input + TEMPLATE_TOKENS, output_tokens: output },
  };
  const finishReason = truncated ? 'MAX_TOKENS' : 'COMPLETE';
  const simUsage: SimUsage = { promptTokens: input, completionTokens: output };
  if (body.stream !== true) {
    return {
      kind: 'json',
      body: {
        id,
        message: { role: 'assistant', content: [{ type: 'text', text: tokens.join('') }] },
        finish_reason: finishReason,
        usage,
      },
      usage: simUsage,
    };
  }
  const head =
    event('message-start', {
      id,
      type: 'message-start',
      delta: { message: { role: 'assistant', content: [], tool_plan: '', tool_calls: [], citations: [] } },
    }) +
    event('content-start', {
      type: 'content-start',
      index: 0,
      delta: { message: { content: { type: 'text', text: '' } } },
    });
  const steps = tokens.map((text) =>
    event('content-delta', { type: 'content-delta', index: 0, delta: { message: { content: { text } } } }),
  );
  const tail =
    event('content-end', { type: 'content-end', index: 0 }) +
    event('message-end', { type: 'message-end', delta: { finish_reason: finishReason, usage } }) +
    'data: [DONE]\n\n';
  return { kind: 'stream', plan: { head, steps, tail }, usage: simUsage };
}

/** One event as Cohere frames it: `event:` line, `data:` line, blank line. */
export function event(name: string, payload: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(payload)}\n\n`;
}

function send(
  res: ServerResponse,
  answer: Answer,
  mode: FailureMode | undefined,
  tokensPerSecond: number,
): Promise<StreamOutcome> {
  if (answer.kind === 'json') return sendJsonAnswer(res, answer.body, mode, 'application/json');
  let plan = answer.plan;
  if (mode === 'invalid-json')
    plan = { ...plan, head: `event: content-delta\ndata: {"type":"content-delta","delta":\n\n${plan.head}` };
  else if (mode === 'stream-error')
    plan = {
      head: plan.head,
      steps: plan.steps.slice(0, CUT_AFTER_STEPS),
      tail: event('message-end', { type: 'message-end', delta: { finish_reason: 'ERROR' } }),
    };
  return writeStream(res, plan, {
    headers: { ...SSE_HEADERS, 'content-type': 'text/event-stream' },
    tokensPerSecond,
    ...(mode === 'cut-stream' ? { cutAfterSteps: CUT_AFTER_STEPS } : {}),
  });
}
