import { anthropicAdapter } from './anthropic/index.js';
import { azureOpenAiAdapter } from './azure-openai/index.js';
import { bedrockAdapter } from './bedrock/index.js';
import { geminiAdapter } from './gemini/index.js';
import { openAiAdapter } from './openai/index.js';
import type { ProviderAdapter } from './types.js';

/** Every provider adapter, by the type name used in config. Adding a provider = one line here. */
const ADAPTERS: ReadonlyMap<string, ProviderAdapter> = new Map(
  [openAiAdapter, azureOpenAiAdapter, anthropicAdapter, geminiAdapter, bedrockAdapter].map((adapter) => [
    adapter.type,
    adapter,
  ]),
);

/** The provider type names an adapter exists for. */
export const PROVIDER_TYPES: readonly string[] = Object.freeze([...ADAPTERS.keys()]);

/** The adapter for a type name from config, or undefined when there is none. */
export function getProviderAdapter(type: string): ProviderAdapter | undefined {
  return ADAPTERS.get(type);
}
