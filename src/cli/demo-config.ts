import type { Config } from '../config/schema.js';
import { configSchema } from '../config/schema.js';

/** The demo teams and their keys (demo only: the keys are printed and not secret). */
export const DEMO_TEAMS = [
  { id: 'team-search', key: 'demo-key-team-search', owner: 'search-lead@example.com', costCenter: 'CC-1001' },
  {
    id: 'team-support',
    key: 'demo-key-team-support',
    owner: 'support-lead@example.com',
    costCenter: 'CC-2002',
  },
  {
    id: 'team-analytics',
    key: 'demo-key-team-analytics',
    owner: 'data-lead@example.com',
    costCenter: 'CC-3003',
  },
  {
    id: 'team-platform',
    key: 'demo-key-team-platform',
    owner: 'platform-lead@example.com',
    costCenter: 'CC-4004',
  },
  {
    id: 'team-research',
    key: 'demo-key-team-research',
    owner: 'research-lead@example.com',
    costCenter: 'CC-5005',
  },
] as const;

/** The demo's admin key: it signs in to the dashboard as admin (demo only: printed, not secret). */
export const DEMO_ADMIN_KEY = 'demo-admin-key';

/**
 * The embedded configuration `tokenmeter demo` runs on: one simulated backend serving the
 * OpenAI, Azure OpenAI, Anthropic, Gemini, AWS Bedrock, Cohere and Ollama API shapes, one
 * product, five teams.
 */
export function demoConfig(port: number, ledger: string): Config {
  return configSchema.parse({
    gateway: { id: 'gw-demo-1', location: 'local', host: '127.0.0.1', port },
    ledger,
    admin: { key: DEMO_ADMIN_KEY },
    backends: [
      { id: 'simulated-llm', type: 'simulator', simulator: { tokensPerSecond: 400, completionTokens: 40 } },
    ],
    apis: [
      { id: 'openai', path: '/openai/v1', type: 'openai', backend: 'simulated-llm' },
      { id: 'azure-openai', path: '/azure', type: 'azure-openai', backend: 'simulated-llm' },
      { id: 'anthropic', path: '/anthropic', type: 'anthropic', backend: 'simulated-llm' },
      { id: 'gemini', path: '/gemini', type: 'gemini', backend: 'simulated-llm' },
      { id: 'bedrock', path: '/bedrock', type: 'bedrock', backend: 'simulated-llm' },
      { id: 'cohere', path: '/cohere', type: 'cohere', backend: 'simulated-llm' },
      { id: 'ollama', path: '/ollama', type: 'ollama', backend: 'simulated-llm' },
    ],
    products: [
      {
        id: 'standard',
        apis: ['openai', 'azure-openai', 'anthropic', 'gemini', 'bedrock', 'cohere', 'ollama'],
      },
    ],
    // A self-hosted model has no catalog price: the demo charges the agreed internal rate.
    pricing: { overrides: [{ model: 'llama3.2', input: 0.05, output: 0.1 }] },
    subscriptions: DEMO_TEAMS.map((t) => ({
      id: t.id,
      key: t.key,
      product: 'standard',
      owner: t.owner,
      costCenter: t.costCenter,
    })),
    tokenMetrics: [
      {
        namespace: 'tokenmeter',
        dimensions: [
          'API ID',
          'Operation ID',
          'Subscription ID',
          'model',
          'backend',
          { name: 'costCenter', value: 'subscription.costCenter' },
        ],
      },
    ],
  });
}
