// The expected counts of INDEX.md (../shared/fixtures/captures) for the OpenAI API shape.
// Columns there: in / out / total / cached / cache write / reasoning; "absent" is left out here.
import type { ProviderAdapter } from '../../src/providers/types.js';
import type { TokenUsage } from '../../src/usage.js';
import { openAiAdapter } from '../../src/providers/openai/index.js';
import { azureOpenAiAdapter } from '../../src/providers/azure-openai/index.js';

export const AZURE_CHAT = '/openai/deployments/gpt-5-nano/chat/completions?api-version=2024-10-21';

export interface JsonCase {
  file: string;
  adapter: ProviderAdapter;
  subPath: string;
  usage: TokenUsage;
  model?: string;
}

// Columns of INDEX.md: in / out / total / cached / cache write / reasoning; "absent" is left out.
export const JSON_CASES: JsonCase[] = [
  {
    file: 'openai-chat-nonstream.json',
    adapter: openAiAdapter,
    subPath: '/chat/completions',
    usage: { promptTokens: 16, completionTokens: 363, totalTokens: 379, cachedTokens: 0, reasoningTokens: 0 },
    model: 'gpt-4.1-nano-2025-04-14',
  },
  {
    file: 'openai-chat-nonstream-toolcall-reasoning.json',
    adapter: openAiAdapter,
    subPath: '/chat/completions',
    usage: {
      promptTokens: 162,
      completionTokens: 219,
      totalTokens: 381,
      cachedTokens: 0,
      reasoningTokens: 192,
    },
    model: 'gpt-5-nano-2025-08-07',
  },
  {
    file: 'openai-chat-nonstream-n3.json',
    adapter: openAiAdapter,
    subPath: '/chat/completions',
    usage: { promptTokens: 79, completionTokens: 44, totalTokens: 123, reasoningTokens: 0 },
    model: 'gpt-4o-2024-08-06',
  },
  { file: 'openai-chat-error-400.json', adapter: openAiAdapter, subPath: '/chat/completions', usage: {} },
  {
    file: 'azure-chat-nonstream.json',
    adapter: azureOpenAiAdapter,
    subPath: AZURE_CHAT,
    usage: {
      promptTokens: 8,
      completionTokens: 271,
      totalTokens: 279,
      cachedTokens: 0,
      reasoningTokens: 192,
    },
    model: 'gpt-5-nano-2025-08-07',
  },
  {
    file: 'openai-responses-nonstream.json',
    adapter: openAiAdapter,
    subPath: '/responses',
    usage: {
      promptTokens: 3700,
      completionTokens: 741,
      totalTokens: 4441,
      cachedTokens: 2560,
      reasoningTokens: 640,
    },
    model: 'gpt-5-mini-2025-08-07',
  },
  {
    file: 'openai-embeddings.json',
    adapter: openAiAdapter,
    subPath: '/embeddings',
    usage: { promptTokens: 5, totalTokens: 5 },
    model: 'text-embedding-3-small',
  },
  {
    file: 'openai-completions-nonstream.json',
    adapter: openAiAdapter,
    subPath: '/completions',
    usage: { promptTokens: 14, completionTokens: 16, totalTokens: 30 },
    model: 'gpt-3.5-turbo-instruct:20230824-v2',
  },
];

export interface StreamCase {
  file: string;
  adapter: ProviderAdapter;
  subPath: string;
  usage: TokenUsage;
  model: string;
  errored: boolean;
  /** Whether the stream holds a usage-only chunk (what strip mode removes). */
  usageChunk: boolean;
}

export const STREAM_CASES: StreamCase[] = [
  {
    file: 'openai-chat-stream-usage.sse',
    adapter: openAiAdapter,
    subPath: '/chat/completions',
    usage: {
      promptTokens: 12,
      completionTokens: 100,
      totalTokens: 112,
      cachedTokens: 0,
      reasoningTokens: 100,
    },
    model: 'gpt-5-nano-2025-08-07',
    errored: false,
    usageChunk: true,
  },
  {
    file: 'openai-chat-stream-toolcall-usage.sse',
    adapter: openAiAdapter,
    subPath: '/chat/completions',
    usage: { promptTokens: 53, completionTokens: 15, totalTokens: 68, cachedTokens: 0, reasoningTokens: 0 },
    model: 'gpt-4o-mini-2024-07-18',
    errored: false,
    usageChunk: true,
  },
  {
    file: 'openai-chat-stream-no-usage.sse',
    adapter: openAiAdapter,
    subPath: '/chat/completions',
    usage: {},
    model: 'gpt-5-nano-2025-08-07',
    errored: false,
    usageChunk: false,
  },
  {
    file: 'openai-chat-stream-n3-usage.sse',
    adapter: openAiAdapter,
    subPath: '/chat/completions',
    usage: { promptTokens: 79, completionTokens: 42, totalTokens: 121, reasoningTokens: 0 },
    model: 'gpt-4o-2024-08-06',
    errored: false,
    usageChunk: true,
  },
  {
    file: 'azure-chat-stream-filter-usage.sse',
    adapter: azureOpenAiAdapter,
    subPath: AZURE_CHAT,
    usage: { promptTokens: 15, completionTokens: 78, totalTokens: 93, cachedTokens: 0, reasoningTokens: 64 },
    model: 'gpt-5-nano-2025-08-07',
    errored: false,
    usageChunk: true,
  },
  {
    file: 'openai-responses-stream-cached-reasoning.sse',
    adapter: openAiAdapter,
    subPath: '/responses',
    usage: {
      promptTokens: 9463,
      completionTokens: 582,
      totalTokens: 10045,
      cachedTokens: 8320,
      reasoningTokens: 512,
    },
    model: 'gpt-5-2025-08-07',
    errored: false,
    usageChunk: false,
  },
  {
    file: 'openai-responses-stream-failed-no-usage.sse',
    adapter: openAiAdapter,
    subPath: '/responses',
    usage: {},
    model: 'gpt-5-nano-2025-08-07',
    errored: true,
    usageChunk: false,
  },
];
