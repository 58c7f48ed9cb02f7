/** The host of OpenAI's own API: an `openai` backend elsewhere is an OpenAI-compatible server. */
const OPENAI_HOST = 'api.openai.com';

// The catalog's provider ids for the backend types whose service the type names.
const CATALOG_PROVIDER: Readonly<Record<string, string>> = {
  openai: 'openai',
  'azure-openai': 'azure',
  anthropic: 'anthropic',
  gemini: 'google',
  // AWS Bedrock's catalog ids are Bedrock's model ids (anthropic.claude-…-v1:0, amazon.nova-…);
  // an ARN or application inference profile is priced through the backend's `deployments`.
  bedrock: 'aws',
  cohere: 'cohere',
};

/**
 * The catalog provider a backend's calls are priced under, or undefined to look the model up by
 * name across the catalog's providers: a `simulator`, an `ollama` backend, and an `openai`
 * backend whose url is not OpenAI's (vLLM, LiteLLM, Ollama and other OpenAI-compatible servers
 * serve models of any provider under OpenAI's API shape).
 */
export function catalogProviderOf(backend: { type: string; url?: string | undefined }): string | undefined {
  if (backend.type === 'openai' && !isOpenAiUrl(backend.url)) return undefined;
  return CATALOG_PROVIDER[backend.type];
}

function isOpenAiUrl(url: string | undefined): boolean {
  if (url === undefined) return false;
  try {
    return new URL(url).hostname.toLowerCase() === OPENAI_HOST;
  } catch {
    return false;
  }
}
