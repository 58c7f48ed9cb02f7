import { splitQuery } from '../providers/sub-path.js';

/** The Operation ID dimension of Realtime sessions. */
export const REALTIME_OPERATION = 'realtime';

/** A Realtime WebSocket route below an API's base path. */
export interface RealtimeRoute {
  /** The path and query sent upstream, relative to the backend URL (the client's, unchanged). */
  upstreamPath: string;
  /** The model dimension: `model` (OpenAI, Azure v1) or `deployment` (Azure classic) query. */
  model?: string;
}

/**
 * Matches the Realtime WebSocket endpoint of an API, by its type:
 * - `openai`: `/realtime?model=…` (https://platform.openai.com/docs/guides/realtime-websocket);
 * - `azure-openai`: `/openai/realtime?api-version=…&deployment=…` (preview) and the GA
 *   `/openai/v1/realtime?model=…`
 *   (https://learn.microsoft.com/azure/ai-foundry/openai/how-to/realtime-audio-websockets).
 * Anything else (another API type, another path) is undefined: not a Realtime route.
 */
export function matchRealtimeRoute(apiType: string, subPath: string): RealtimeRoute | undefined {
  const { path, query } = splitQuery(subPath);
  const params = new URLSearchParams(query);
  let model: string | null;
  if (apiType === 'openai' && path === '/realtime') model = params.get('model');
  else if (apiType === 'azure-openai' && path === '/openai/realtime') model = params.get('deployment');
  else if (apiType === 'azure-openai' && path === '/openai/v1/realtime') model = params.get('model');
  else return undefined;
  return { upstreamPath: subPath, ...(model !== null && model !== '' ? { model } : {}) };
}
