import type { RouteMatch } from '../types.js';
import { OPENAI_ENDPOINTS, OPERATIONS, type OpenAiOperation } from '../openai/routes.js';
import { readPathParameter, splitQuery } from '../sub-path.js';

/** Endpoints below `/openai/deployments/{deployment}` (Azure's classic, api-version routes). */
const DEPLOYMENT_ENDPOINTS: ReadonlyMap<string, OpenAiOperation> = new Map([
  ['chat/completions', OPERATIONS.chatCompletions],
  ['completions', OPERATIONS.completions],
  ['embeddings', OPERATIONS.embeddings],
]);

const DEPLOYMENTS_PREFIX = '/openai/deployments/';
const V1_PREFIX = '/openai/v1';

/**
 * Matches Azure OpenAI routes (the query, e.g. `?api-version=…`, is kept for upstream):
 * - `POST /openai/deployments/{deployment}/chat/completions|completions|embeddings`, where the
 *   deployment is the model dimension (https://learn.microsoft.com/azure/ai-foundry/openai/reference);
 * - `POST /openai/v1/chat/completions|completions|embeddings|responses`, the v1 API whose
 *   model comes from the body (https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle);
 * - `POST /openai/responses`, the preview Responses route with an api-version query.
 */
export function matchAzureOpenAiRoute(method: string, subPath: string): RouteMatch | undefined {
  if (method.toUpperCase() !== 'POST') return undefined;
  const { path } = splitQuery(subPath);
  if (path.startsWith(DEPLOYMENTS_PREFIX))
    return matchDeploymentRoute(path.slice(DEPLOYMENTS_PREFIX.length), subPath);
  if (path.startsWith(`${V1_PREFIX}/`)) {
    const operation = OPENAI_ENDPOINTS.get(path.slice(V1_PREFIX.length));
    return operation === undefined ? undefined : { operation, metered: true, upstreamPath: subPath };
  }
  if (path === '/openai/responses')
    return { operation: OPERATIONS.responses, metered: true, upstreamPath: subPath };
  return undefined;
}

/**
 * `{deployment}/{endpoint}`: the deployment is decoded once and must be a plain segment
 * (readPathParameter: TM_BAD_PATH otherwise, so `%2e%2e%2f%2e%2e%2fadmin` is refused, not
 * forwarded and metered as model `../../admin`).
 */
function matchDeploymentRoute(rest: string, subPath: string): RouteMatch | undefined {
  const slash = rest.indexOf('/');
  if (slash === -1) return undefined;
  const operation = DEPLOYMENT_ENDPOINTS.get(rest.slice(slash + 1));
  if (operation === undefined) return undefined;
  const pathModel = readPathParameter(rest.slice(0, slash), 'deployment');
  return { operation, metered: true, pathModel, params: { deployment: pathModel }, upstreamPath: subPath };
}
