import type { ApiConfig, Config } from '../config/schema.js';
import { getProviderAdapter } from '../providers/registry.js';
import { checkRequestPath, splitQuery } from '../providers/sub-path.js';
import type { ProviderAdapter } from '../providers/types.js';

/** An API with the adapter for the shape its clients speak. */
export interface RoutedApi {
  api: ApiConfig;
  adapter: ProviderAdapter;
}

export interface ApiMatch extends RoutedApi {
  /** The path below the API's base path, query included (always starts with "/"). */
  subPath: string;
}

export interface ApiRouter {
  /**
   * The API serving `url`, or undefined.
   * @throws TokenmeterError TM_BAD_PATH when the path holds a dot segment, an encoded separator
   * or a control character (checkRequestPath), whichever API it falls under; an API whose
   * adapter has its own `checkRequestPath` (Bedrock: an encoded `/` inside a model ARN) is
   * checked by that one instead.
   */
  match(url: string): ApiMatch | undefined;
}

/**
 * Matches a request URL to the API whose `path` is its longest prefix on a segment boundary. The
 * URL is the raw request target: Node does not resolve `..` in it, so `/openai/v1/../admin`
 * would fall under `/openai/v1` while a backend resolving it would not; such paths are refused.
 */
export function createApiRouter(config: Config): ApiRouter {
  const routed: RoutedApi[] = config.apis
    .map((api) => {
      const adapter = getProviderAdapter(api.type);
      if (adapter === undefined) throw new Error(`no provider adapter for API type "${api.type}"`);
      return { api, adapter };
    })
    .sort((a, b) => b.api.path.length - a.api.path.length);

  return {
    match(url) {
      const { path } = splitQuery(url);
      for (const entry of routed) {
        const base = entry.api.path === '/' ? '' : entry.api.path;
        if (!url.startsWith(base)) continue;
        const rest = url.slice(base.length);
        if (!rest.startsWith('/') && !rest.startsWith('?') && rest !== '') continue;
        // An adapter may check its paths its own way (Bedrock's ARNs hold an encoded `/`).
        (entry.adapter.checkRequestPath ?? checkRequestPath)(path);
        return { ...entry, subPath: rest.startsWith('/') ? rest : `/${rest}` };
      }
      checkRequestPath(path);
      return undefined;
    },
  };
}
