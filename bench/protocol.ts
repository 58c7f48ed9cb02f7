/** Shared constants and the IPC messages between proxy-bench.ts and its server processes. */

/** The server roles, each in its own process. */
export type Role = 'upstream' | 'bare' | 'gateway' | 'gateway-identity';

/** What a server process reports once. */
export type ChildMessage =
  { type: 'ready'; urls: Record<string, string> } | { type: 'failed'; message: string };

/** The subscription key the benchmark's client sends (also to the upstream and bare proxy). */
export const BENCH_KEY = 'bench-subscription-key';

/** The paced simulator used for time-to-first-byte: a stream lasts about 24 ms. */
export const PACED = { tokensPerSecond: 1000, completionTokens: 24 } as const;

/** Completion tokens of the unpaced simulator (the simulator's default). */
export const FAST_COMPLETION_TOKENS = 24;

/**
 * Who the identity scenario's caller is: an Entra ID–shaped application token (RS256, served
 * through a JWKS the gateway fetches once and caches) and the headers two of the five custom
 * dimensions read.
 */
export const IDENTITY = {
  issuer: 'https://login.microsoftonline.com/00000000-0000-4000-8000-00000000b001/v2.0',
  audience: 'api://tokenmeter-bench',
  claims: {
    appid: '11111111-2222-4333-8444-555555555555',
    oid: '66666666-7777-4888-9999-000000000000',
    tid: '00000000-0000-4000-8000-00000000b001',
  },
  headers: { 'x-team': 'blue', 'x-channel': 'web' },
} as const;

/** Narrows an IPC message from a server process. */
export function parseChildMessage(message: unknown): ChildMessage | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const m = message as Record<string, unknown>;
  if (m.type === 'failed' && typeof m.message === 'string') return { type: 'failed', message: m.message };
  if (m.type === 'ready' && typeof m.urls === 'object' && m.urls !== null) {
    const urls: Record<string, string> = {};
    for (const [key, value] of Object.entries(m.urls)) if (typeof value === 'string') urls[key] = value;
    return { type: 'ready', urls };
  }
  return undefined;
}
