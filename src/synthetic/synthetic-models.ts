/** Where a synthetic model is served: the dimensions a gateway gives a call to it. */
export interface SyntheticRoute {
  /** The API ID clients call (as configured in `apis`). */
  api: string;
  /** The backend id that serves the call. */
  backend: string;
  /** The backend type (the `provider` dimension). */
  provider: string;
  /** The operation of a call that is not streamed. */
  operation: string;
  /** The operation of a streamed call (Gemini streams on another method); default `operation`. */
  streamOperation?: string;
}

/** A real model the price catalog prices, and how synthetic calls to it look. */
export interface SyntheticModel {
  /** The model the client asks for. */
  model: string;
  /** The model the provider says answered (dated snapshot names, as providers answer). */
  responseModel: string;
  /** Share of all calls, relative to the other models. */
  popularity: number;
  /** The routes calls take, the first most often. */
  routes: readonly SyntheticRoute[];
  /** Embeddings: no completion, never streamed. */
  embeddings?: boolean;
  /** Share of calls with hidden reasoning tokens (inside the completion). */
  reasoningShare?: number;
  /** Whether the provider reports prompt-cache writes (Anthropic). */
  cacheWrites?: boolean;
}

const openai = (operation: string): SyntheticRoute => ({
  api: 'openai',
  backend: 'openai-primary',
  provider: 'openai',
  operation,
});
const azure: SyntheticRoute = {
  api: 'azure-openai',
  backend: 'azure-eastus',
  provider: 'azure-openai',
  operation: 'chat.completions',
};
const anthropic: SyntheticRoute = {
  api: 'anthropic',
  backend: 'anthropic',
  provider: 'anthropic',
  operation: 'messages',
};
const gemini: SyntheticRoute = {
  api: 'gemini',
  backend: 'gemini',
  provider: 'gemini',
  operation: 'generateContent',
  streamOperation: 'streamGenerateContent',
};

/**
 * The models `ledger generate --models M` draws from, the first M of them. Ordered so that the
 * default five already cover every operation family: chat completions, responses, messages,
 * embeddings and generateContent. Every name is priced by @pydantic/genai-prices (a test checks).
 */
export const SYNTHETIC_MODELS: readonly SyntheticModel[] = [
  {
    model: 'gpt-4o-mini',
    responseModel: 'gpt-4o-mini-2024-07-18',
    popularity: 10,
    routes: [openai('chat.completions'), openai('responses'), azure],
  },
  {
    model: 'gpt-4o',
    responseModel: 'gpt-4o-2024-08-06',
    popularity: 5,
    routes: [openai('chat.completions'), azure, openai('responses')],
  },
  {
    model: 'claude-sonnet-4',
    responseModel: 'claude-sonnet-4-20250514',
    popularity: 4,
    routes: [anthropic],
    reasoningShare: 0.15,
    cacheWrites: true,
  },
  {
    model: 'text-embedding-3-small',
    responseModel: 'text-embedding-3-small',
    popularity: 6,
    routes: [openai('embeddings')],
    embeddings: true,
  },
  { model: 'gemini-2.0-flash', responseModel: 'gemini-2.0-flash', popularity: 4, routes: [gemini] },
  {
    model: 'o4-mini',
    responseModel: 'o4-mini-2025-04-16',
    popularity: 2,
    routes: [openai('responses'), openai('chat.completions')],
    reasoningShare: 1,
  },
  {
    model: 'gemini-2.5-flash',
    responseModel: 'gemini-2.5-flash',
    popularity: 3,
    routes: [gemini],
    reasoningShare: 0.6,
  },
  {
    model: 'gpt-4.1',
    responseModel: 'gpt-4.1-2025-04-14',
    popularity: 2,
    routes: [openai('chat.completions'), openai('responses')],
  },
  {
    model: 'claude-3-5-haiku-latest',
    responseModel: 'claude-3-5-haiku-20241022',
    popularity: 2,
    routes: [anthropic],
    cacheWrites: true,
  },
  {
    model: 'text-embedding-3-large',
    responseModel: 'text-embedding-3-large',
    popularity: 1,
    routes: [openai('embeddings')],
    embeddings: true,
  },
  {
    model: 'gpt-4.1-mini',
    responseModel: 'gpt-4.1-mini-2025-04-14',
    popularity: 3,
    routes: [openai('chat.completions'), azure],
  },
  {
    model: 'gemini-2.5-pro',
    responseModel: 'gemini-2.5-pro',
    popularity: 1,
    routes: [gemini],
    reasoningShare: 1,
  },
];

/** The number of models `--models` defaults to. */
export const DEFAULT_SYNTHETIC_MODEL_COUNT = 5;
