import type { PreparedBody, RequestInfo, RouteMatch } from '../types.js';
import { field, isJsonObject, readText } from '../json.js';
import { spliceMember } from '../json-splice.js';
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
  if (user !== undefined) {
    info.user = user;
    info.userField = 'user';
  }
  return info;
}

/** Operations whose streams report usage only when asked with `stream_options.include_usage`. */
const USAGE_OPT_IN: ReadonlySet<string> = new Set([OPERATIONS.chatCompletions, OPERATIONS.completions]);

/**
 * The upstream body. A streamed chat/completions call whose client did not ask for usage gets
 * `stream_options.include_usage: true` (https://platform.openai.com/docs/api-reference/chat/create#chat-create-stream_options),
 * and the tap then strips the usage chunk again so the client sees the stream it asked for. A
 * client that sent `include_usage: false` (or any value but `true`) is treated the same way.
 * The member is spliced into the client's bytes, never re-serialised (see spliceMember): with no
 * `stream_options` it is inserted first in the body; an existing `include_usage` has its value
 * replaced; a `stream_options` that is not an object (`null`, a string…) is replaced by
 * `{"include_usage":true}`. Everything else — the Responses API always reports usage — goes
 * upstream as the very Buffer the client sent.
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
  const spliced = spliceMember(raw, INCLUDE_USAGE_PATH, 'true', body);
  // Only for bytes JSON.parse refused, which never get here: then the call is estimated.
  return spliced === undefined ? unchanged : { body: spliced, stripUsageChunk: true };
}

const INCLUDE_USAGE_PATH = ['stream_options', 'include_usage'] as const;
