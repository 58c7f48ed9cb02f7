/** Shared constants and the IPC messages between proxy-bench.ts and its server processes. */

/** The server roles, each in its own process. */
export type Role = 'upstream' | 'bare' | 'gateway';

/** What a server process reports once. */
export type ChildMessage =
  { type: 'ready'; urls: Record<string, string> } | { type: 'failed'; message: string };

/** The subscription key the benchmark's client sends (also to the upstream and bare proxy). */
export const BENCH_KEY = 'bench-subscription-key';

/** The paced simulator used for time-to-first-byte: a stream lasts about 24 ms. */
export const PACED = { tokensPerSecond: 1000, completionTokens: 24 } as const;

/** Completion tokens of the unpaced simulator (the simulator's default). */
export const FAST_COMPLETION_TOKENS = 24;

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
