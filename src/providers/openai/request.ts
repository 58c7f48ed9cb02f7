import type { PreparedBody, RequestInfo, RouteMatch } from '../types.js';
import { field, isJsonObject, readText, type JsonObject } from '../json.js';
import { OPERATIONS } from './routes.js';

/**
 * Reads model, stream flag, end user and the client's own stream usage request from a request
 * body. The route's path model (an Azure deployment) wins over the body `model`.
 */
export function inspectOpenAiRequest(route: RouteMatch, body: unknown): RequestInfo {
  const info: RequestInfo = {
    stream: field(body, 'stream') === true,
    clientWantsStreamUsage: field(field(body, 'stream_options'), 'include_usage') === true,
  };
  const model = route.pathModel ?? readText(field(body, 'model'));
  if (model !== undefined) info.model = model;
  const user = readText(field(body, 'user'));
  if (user !== undefined) info.user = user;
  return info;
}

/** Operations whose streams report usage only when asked with `stream_options.include_usage`. */
const USAGE_OPT_IN: ReadonlySet<string> = new Set([OPERATIONS.chatCompletions, OPERATIONS.completions]);

/**
 * The upstream body. A streamed chat/completions call whose client did not ask for usage gets
 * `stream_options.include_usage: true` added (https://platform.openai.com/docs/api-reference/chat/create#chat-create-stream_options),
 * and the tap then strips the usage chunk again so the client sees the stream it asked for. A
 * client that sent `include_usage: false` is treated the same way. Everything else — the
 * Responses API always reports usage — goes upstream as the very Buffer the client sent.
 */
export function prepareOpenAiBody(
  route: RouteMatch,
  info: RequestInfo,
  body: unknown,
  raw: Buffer,
  injectStreamUsage: boolean,
): PreparedBody {
  const unchanged: PreparedBody = { body: raw, stripUsageChunk: false };
  if (!injectStreamUsage || !info.stream || info.clientWantsStreamUsage) return unchanged;
  if (!USAGE_OPT_IN.has(route.operation) || !isJsonObject(body)) return unchanged;
  return { body: withIncludeUsage(body, raw), stripUsageChunk: true };
}

const INCLUDE_USAGE_MEMBER = Buffer.from('"stream_options":{"include_usage":true},');
/** JSON insignificant whitespace: space, tab, LF, CR. */
const JSON_WHITESPACE: ReadonlySet<number> = new Set([0x20, 0x09, 0x0a, 0x0d]);
const OPEN_BRACE = 0x7b;

/**
 * Adds `include_usage: true` to the body. When the client sent no `stream_options`, the member
 * is inserted right after the opening brace so every other byte goes upstream untouched (no
 * re-serialisation: numbers, key order and escapes stay as the client wrote them). Otherwise the
 * parsed body is re-serialised with its other `stream_options` keys kept.
 */
function withIncludeUsage(body: JsonObject, raw: Buffer): Buffer {
  const streamOptions = body['stream_options'];
  if (streamOptions === undefined && Object.keys(body).length > 0) {
    let brace = 0;
    while (brace < raw.length && JSON_WHITESPACE.has(raw[brace] ?? 0)) brace += 1;
    if (raw[brace] === OPEN_BRACE) {
      return Buffer.concat([raw.subarray(0, brace + 1), INCLUDE_USAGE_MEMBER, raw.subarray(brace + 1)]);
    }
  }
  const kept = isJsonObject(streamOptions) ? streamOptions : {};
  return Buffer.from(JSON.stringify({ ...body, stream_options: { ...kept, include_usage: true } }));
}
