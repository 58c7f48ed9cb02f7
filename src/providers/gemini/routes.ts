import type { RouteMatch } from '../types.js';
import { readPathParameter, splitQuery } from '../sub-path.js';

/** The Operation ID dimension values of the Gemini API shape: the method names of the REST API. */
export const OPERATIONS = {
  generateContent: 'generateContent',
  streamGenerateContent: 'streamGenerateContent',
  countTokens: 'countTokens',
} as const;

export type GeminiOperation = (typeof OPERATIONS)[keyof typeof OPERATIONS];

const METHODS: ReadonlyMap<string, GeminiOperation> = new Map(
  Object.values(OPERATIONS).map((operation) => [operation, operation]),
);

/**
 * Model paths, the custom method after the last `:`
 * (https://ai.google.dev/api/generate-content#method:-models.generatecontent):
 * - Gemini API: `/{v1|v1beta|v1alpha}/models/{model}` and `/…/tunedModels/{model}`;
 * - Vertex AI: `/{v1|v1beta1}/projects/{p}/locations/{l}/publishers/google/models/{model}`
 *   (https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.publishers.models/generateContent),
 *   and the same without `projects/…/locations/…` (Vertex AI express mode, API-key only).
 */
const MODEL_PATHS: readonly RegExp[] = [
  /^\/v1(?:beta|alpha)?\/(?:models|tunedModels)\/(?<model>[^/:]+)$/,
  /^\/v1(?:beta1)?\/(?:projects\/(?<project>[^/]+)\/locations\/(?<location>[^/]+)\/)?publishers\/google\/models\/(?<model>[^/:]+)$/,
];

/**
 * Path parameters are plain segments once decoded (readPathParameter), and hold no `:` either:
 * it separates the custom method, so an encoded one would make the metered model differ from
 * the one Google routes to.
 */
function readGeminiParameter(segment: string | undefined, name: string): string | undefined {
  return segment === undefined ? undefined : readPathParameter(segment, name, ':');
}

/**
 * Matches `POST {model path}:generateContent | :streamGenerateContent | :countTokens`. The model
 * named by the path (URL-decoded once) is the model dimension; countTokens is free, so not
 * metered. Every path parameter (model, tuned model, Vertex project and location) must be a
 * plain segment: `..`, `%2e%2e`, an encoded `/`… are TM_BAD_PATH (400), nothing forwarded.
 * The query (e.g. `alt=sse`) is sent upstream as it came, once the key is taken out of it.
 *
 * @throws TokenmeterError TM_BAD_PATH for a path parameter that is not a plain segment
 */
export function matchGeminiRoute(method: string, subPath: string): RouteMatch | undefined {
  if (method.toUpperCase() !== 'POST') return undefined;
  const { path } = splitQuery(subPath);
  const colon = path.lastIndexOf(':');
  if (colon === -1) return undefined;
  const operation = METHODS.get(path.slice(colon + 1));
  if (operation === undefined) return undefined;
  const modelPath = path.slice(0, colon);
  for (const pattern of MODEL_PATHS) {
    const groups = pattern.exec(modelPath)?.groups;
    if (groups === undefined) continue;
    const project = readGeminiParameter(groups['project'], 'project');
    const location = readGeminiParameter(groups['location'], 'location');
    const model = readGeminiParameter(groups['model'], 'model') ?? '';
    return {
      operation,
      metered: operation !== OPERATIONS.countTokens,
      pathModel: model,
      params: {
        model,
        ...(project !== undefined ? { project } : {}),
        ...(location !== undefined ? { location } : {}),
      },
      upstreamPath: subPath,
    };
  }
  return undefined;
}

/**
 * The name of a query parameter as Google's front end reads it: URL-decoded, and without the
 * `$` prefix every system parameter also accepts (`$alt`, `%24key`;
 * https://cloud.google.com/apis/docs/system-parameters).
 */
function parameterName(param: string): string {
  const eq = param.indexOf('=');
  const name = decodeQueryComponent(eq === -1 ? param : param.slice(0, eq)) ?? '';
  return name.startsWith('$') ? name.slice(1) : name;
}

/** Decodes a query component (`+` is a space); undefined when the escapes are malformed. */
function decodeQueryComponent(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}

/**
 * Query parameters never forwarded: `key` (the Gemini API's query credential,
 * https://ai.google.dev/gemini-api/docs/api-key), `access_token` (an OAuth credential), and
 * `userProject`, the query form of `X-Goog-User-Project`, which picks the project billed for
 * the call (https://cloud.google.com/apis/docs/system-parameters).
 */
const DROPPED_PARAMETERS: ReadonlySet<string> = new Set(['key', 'access_token', 'userProject']);

/**
 * Takes the API key out of the query string. Every `key`, `access_token` and `userProject`
 * parameter is removed, whatever its spelling (`$key`, `%24key`, `k%65y`), so a credential or a
 * billing choice is never forwarded; the other parameters stay byte for byte, in order. The
 * first non-empty key is returned.
 *
 * @example
 * takeGeminiQueryCredential('/v1beta/models/m:streamGenerateContent?key=K&alt=sse');
 * // { key: 'K', subPath: '/v1beta/models/m:streamGenerateContent?alt=sse' }
 */
export function takeGeminiQueryCredential(subPath: string): { key?: string; subPath: string } {
  const { path, query } = splitQuery(subPath);
  if (query === '') return { subPath };
  let key: string | undefined;
  const kept: string[] = [];
  for (const param of query.slice(1).split('&')) {
    const name = parameterName(param);
    if (!DROPPED_PARAMETERS.has(name)) {
      kept.push(param);
      continue;
    }
    if (name !== 'key') continue;
    const value = decodeQueryComponent(param.slice(param.indexOf('=') + 1));
    if (key === undefined && param.includes('=') && value !== undefined && value !== '') key = value;
  }
  const rest = kept.join('&');
  const cleaned = kept.length === 0 ? path : `${path}?${rest}`;
  return key === undefined ? { subPath: cleaned } : { key, subPath: cleaned };
}

/**
 * Whether a streamGenerateContent route asked for server-sent events (`alt=sse`) rather than
 * the default streamed JSON array (https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent).
 */
export function wantsSse(route: RouteMatch): boolean {
  const { query } = splitQuery(route.upstreamPath);
  if (query === '') return false;
  return query
    .slice(1)
    .split('&')
    .some((param) => parameterName(param) === 'alt' && param.slice(param.indexOf('=') + 1) === 'sse');
}
