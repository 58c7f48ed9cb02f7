import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkBedrockAuth, type BedrockAuthOptions } from './bedrock-auth.js';
import { converseAnswer } from './bedrock-converse.js';
import { writeFrames } from './bedrock-eventstream.js';
import {
  bedrockError,
  bedrockFailureMode,
  bedrockHttpFailure,
  failingFramePlan,
  type BedrockFailureMode,
} from './bedrock-failures.js';
import { invokeAnswer } from './bedrock-invoke.js';
import { requestId, type BedrockAnswer, type BedrockOperation } from './bedrock-types.js';
import { malformedJson } from './failures.js';
import type { StreamOutcome } from './sse.js';
import { SimulatorHttpError, type SimUsage } from './types.js';

/**
 * The Amazon Bedrock Runtime API as the AWS SDKs speak it: `POST /model/{modelId}/converse`,
 * `/converse-stream`, `/invoke` and `/invoke-with-response-stream`, the model id URL-encoded
 * (inference profile ids and ARNs included). Answers: bedrock-converse.ts and bedrock-invoke.ts;
 * the binary event stream: bedrock-eventstream.ts; failures: bedrock-failures.ts; optional
 * caller checks (API key, SigV4): bedrock-auth.ts. Errors are Bedrock's: a JSON
 * `{"message": …}` body and the error type in `x-amzn-errortype`.
 */

/** A matched Bedrock route. */
export interface BedrockRoute {
  /** The decoded model id. */
  modelId: string;
  operation: BedrockOperation;
}

const BEDROCK_PATH = /^\/model\/([^/]+)\/(converse|converse-stream|invoke|invoke-with-response-stream)$/;

/** Matches a Bedrock Runtime path (trailing slashes ignored); undefined for anything else. */
export function matchBedrockRoute(pathname: string): BedrockRoute | undefined {
  const match = BEDROCK_PATH.exec(pathname.length > 1 ? pathname.replace(/\/+$/, '') : pathname);
  if (match === null) return undefined;
  try {
    const modelId = decodeURIComponent(match[1] ?? '');
    return modelId === '' ? undefined : { modelId, operation: match[2] as BedrockOperation };
  } catch {
    return undefined;
  }
}

/** What serving one Bedrock request needs from the server. */
export interface BedrockCall {
  req: IncomingMessage;
  res: ServerResponse;
  /** The request body as text. */
  raw: string;
  /** Receives the parsed body (for the request record). */
  onBody: (body: Record<string, unknown>) => void;
  sequence: number;
  completionTokens: number;
  tokensPerSecond: number;
  auth?: BedrockAuthOptions;
}

/** Where Bedrock's `x-amzn-errortype` values point after the error name. */
const ERROR_TYPE_SUFFIX = ':http://internal.amazon.com/coral/com.amazon.bedrock/';

/**
 * Serves one Bedrock request and resolves with the usage to add to the stats: the tokens of a
 * whole answer; undefined for errors, injected failures and aborted answers.
 */
export async function serveBedrock(route: BedrockRoute, call: BedrockCall): Promise<SimUsage | undefined> {
  const stream = route.operation === 'converse-stream' || route.operation === 'invoke-with-response-stream';
  let mode: BedrockFailureMode | undefined;
  let answer: BedrockAnswer;
  try {
    if (call.req.method !== 'POST') {
      throw bedrockError(
        404,
        'UnknownOperationException',
        `No operation for ${call.req.method ?? ''} on this path.`,
      );
    }
    await checkBedrockAuth(call.auth, {
      method: 'POST',
      url: call.req.url ?? '/',
      headers: call.req.headers,
      body: call.raw,
    });
    const body = parseBody(call.raw);
    call.onBody(body);
    mode = bedrockFailureMode(call.req.headers);
    const failure = mode === undefined ? undefined : bedrockHttpFailure(mode, stream);
    if (failure !== undefined) throw failure;
    const billedInputDelta = readBilledInputDelta(call.req.headers[BILLED_DELTA_HEADER]);
    const request = {
      ...(billedInputDelta !== undefined ? { billedInputDelta } : {}),
      modelId: route.modelId,
      body,
      sequence: call.sequence,
      completionTokens: call.completionTokens,
      tokensPerSecond: call.tokensPerSecond,
    };
    answer = route.operation.startsWith('converse')
      ? converseAnswer(request, stream)
      : invokeAnswer(request, stream);
  } catch (err) {
    sendBedrockError(call, err);
    return undefined;
  }
  const outcome = await send(call, answer, mode);
  return outcome === 'completed' && mode === undefined ? answer.usage : undefined;
}

/** The header that makes InvokeModel's billed input count differ from the body's (bedrock-invoke.ts). */
export const BILLED_DELTA_HEADER = 'x-simulator-billed-input-delta';

function readBilledInputDelta(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !Number.isInteger(n) || n < 0) {
    throw bedrockError(400, 'ValidationException', `${BILLED_DELTA_HEADER} must be an integer >= 0.`);
  }
  return n;
}

function parseBody(raw: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw bedrockError(
      400,
      'ValidationException',
      'Malformed input request, please reformat your input and try again.',
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw bedrockError(
      400,
      'ValidationException',
      'Malformed input request: expected type: JSONObject, please reformat your input and try again.',
    );
  }
  return value as Record<string, unknown>;
}

function sendBedrockError(call: BedrockCall, err: unknown): void {
  const error =
    err instanceof SimulatorHttpError
      ? err
      : bedrockError(500, 'InternalServerException', 'Simulator internal error.');
  const text = JSON.stringify({ message: error.message });
  call.res.writeHead(error.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': requestId(call.sequence),
    'x-amzn-errortype': `${error.type}${ERROR_TYPE_SUFFIX}`,
  });
  call.res.end(text);
}

function send(
  call: BedrockCall,
  answer: BedrockAnswer,
  mode: BedrockFailureMode | undefined,
): Promise<StreamOutcome> {
  const { res } = call;
  if (answer.kind === 'stream') {
    const { plan, cutAfterSteps } = failingFramePlan(answer.plan, mode, answer.deltaType);
    return writeFrames(res, plan, {
      headers: answer.headers,
      tokensPerSecond: call.tokensPerSecond,
      ...(cutAfterSteps !== undefined ? { cutAfterSteps } : {}),
    });
  }
  const json = JSON.stringify(answer.body);
  const text = mode === 'invalid-json' || mode === 'cut-stream' ? malformedJson(json) : json;
  return new Promise((resolve) => {
    res.once('close', () => resolve(res.writableFinished ? 'completed' : 'aborted'));
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(mode === 'cut-stream' ? json : text),
      ...answer.headers,
    });
    // cut-stream announces the whole body and drops the connection after half of it.
    if (mode === 'cut-stream') res.write(text, () => res.destroy());
    else res.end(text);
  });
}
