import type { ProviderAdapter } from '../types.js';
import { createOpenAiCompatibleAdapter } from '../openai/index.js';
import { matchAzureOpenAiRoute } from './routes.js';

export { matchAzureOpenAiRoute } from './routes.js';

/**
 * The `azure-openai` adapter: Azure OpenAI speaks the OpenAI API shape (same bodies, usage and
 * streams, so the openai module does all the reading) on its own routes, with the key in the
 * `api-key` header (https://learn.microsoft.com/azure/ai-foundry/openai/reference#authentication).
 */
export const azureOpenAiAdapter: ProviderAdapter = createOpenAiCompatibleAdapter({
  type: 'azure-openai',
  matchRoute: matchAzureOpenAiRoute,
  backendAuth: (apiKey) => ({ header: 'api-key', value: apiKey }),
});
