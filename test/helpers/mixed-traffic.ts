import { FAIL_HEADER } from '../../src/simulator/index.js';

/**
 * Mixed client traffic for the scale-out tests and the multi-instance benchmark: OpenAI,
 * Anthropic and Gemini calls, streamed and not, some asking the simulator for an upstream error,
 * some aborted by the client after the first bytes of a stream. Each call carries its own id in
 * the `x-call-id` header, which the gateway configuration below makes the User ID, so that every
 * call can be found in the ledger.
 */
export type CallKind =
  'openai-json' | 'openai-stream' | 'anthropic-json' | 'anthropic-stream' | 'gemini-json' | 'gemini-stream';

const KINDS: readonly CallKind[] = [
  'openai-json',
  'openai-stream',
  'anthropic-json',
  'anthropic-stream',
  'gemini-json',
  'gemini-stream',
];

export interface PlannedCall {
  id: string;
  kind: CallKind;
  /** Ask the simulator for a 500. */
  fail: boolean;
  /** Abort after the first bytes of the answer (streams only). */
  abort: boolean;
}

export type CallOutcome =
  /** The client read the whole answer with status 200. */
  | 'completed'
  /** The client read an error answer (the simulator's 500 relayed). */
  | 'upstream-error'
  /** The client aborted mid-answer, as planned. */
  | 'aborted'
  /** Anything else: the gateway did not answer as it should. */
  | 'failed';

export interface CallResult {
  call: PlannedCall;
  outcome: CallOutcome;
  status: number;
  detail?: string;
}

/** The subscription key the traffic uses (see {@link trafficGatewayConfig}). */
export const TRAFFIC_KEY = 'sk-traffic-team-0000000001';

/** A small deterministic generator (mulberry32), so a failing run can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * `count` calls, kinds in turn; `failShare` of them ask for an upstream 500 and `abortShare` (of
 * the streamed ones' kinds, drawn among all calls) are aborted by the client.
 */
export function planCalls(
  count: number,
  options: { seed?: number; failShare?: number; abortShare?: number; prefix?: string } = {},
): PlannedCall[] {
  const next = random(options.seed ?? 1);
  const failShare = options.failShare ?? 0;
  const abortShare = options.abortShare ?? 0;
  const calls: PlannedCall[] = [];
  for (let i = 0; i < count; i++) {
    const draw = next();
    const fail = draw < failShare;
    const abort = !fail && draw < failShare + abortShare;
    // Aborted calls are streams: a JSON answer has no "first bytes" to abort after.
    let kind = KINDS[i % KINDS.length] ?? 'openai-json';
    if (abort && !kind.endsWith('-stream')) kind = kind.replace('-json', '-stream') as CallKind;
    calls.push({ id: `${options.prefix ?? 'call'}-${i}`, kind, fail, abort });
  }
  return calls;
}

/** The gateway configuration the traffic expects, with every provider on one simulator. */
export function trafficGatewayConfig(simulatorUrl: string, gatewayId: string): Record<string, unknown> {
  return {
    gateway: { id: gatewayId, location: 'test' },
    backends: [
      { id: 'oai', type: 'openai', url: `${simulatorUrl}/v1`, apiKey: 'sk-backend-openai' },
      { id: 'claude', type: 'anthropic', url: simulatorUrl, apiKey: 'sk-ant-backend' },
      { id: 'google', type: 'gemini', url: simulatorUrl, apiKey: 'AIza-backend' },
    ],
    apis: [
      { id: 'openai', path: '/openai/v1', type: 'openai', backend: 'oai' },
      { id: 'anthropic', path: '/anthropic', type: 'anthropic', backend: 'claude' },
      { id: 'gemini', path: '/gemini', type: 'gemini', backend: 'google' },
    ],
    products: [{ id: 'std', apis: ['openai', 'anthropic', 'gemini'] }],
    subscriptions: [{ id: 'team-traffic', key: TRAFFIC_KEY, product: 'std' }],
    users: { header: 'x-call-id' },
  };
}

function request(call: PlannedCall): { path: string; headers: Record<string, string>; body: unknown } {
  const stream = call.kind.endsWith('-stream');
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-call-id': call.id };
  if (call.fail) headers[FAIL_HEADER] = '500';
  const text = `Say something about call ${call.id}.`;
  if (call.kind.startsWith('openai')) {
    headers['authorization'] = `Bearer ${TRAFFIC_KEY}`;
    return {
      path: '/openai/v1/chat/completions',
      headers,
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }], stream },
    };
  }
  if (call.kind.startsWith('anthropic')) {
    headers['x-api-key'] = TRAFFIC_KEY;
    headers['anthropic-version'] = '2023-06-01';
    return {
      path: '/anthropic/v1/messages',
      headers,
      body: {
        model: 'claude-3-5-haiku-20241022',
        max_tokens: 64,
        messages: [{ role: 'user', content: text }],
        stream,
      },
    };
  }
  headers['x-goog-api-key'] = TRAFFIC_KEY;
  const model = 'gemini-2.0-flash';
  return {
    path: stream
      ? `/gemini/v1beta/models/${model}:streamGenerateContent?alt=sse`
      : `/gemini/v1beta/models/${model}:generateContent`,
    headers,
    body: { contents: [{ role: 'user', parts: [{ text }] }] },
  };
}

/** Sends one call to a gateway and says how it went for the client. */
export async function sendCall(gatewayUrl: string, call: PlannedCall): Promise<CallResult> {
  const { path, headers, body } = request(call);
  const abort = new AbortController();
  let status = 0;
  try {
    const res = await fetch(`${gatewayUrl}${path}`, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      signal: abort.signal,
    });
    status = res.status;
    if (call.abort && res.body !== null) {
      const reader = res.body.getReader();
      await reader.read();
      abort.abort();
      await reader.cancel().catch(() => {});
      return { call, outcome: 'aborted', status };
    }
    const text = await res.text();
    if (call.fail)
      return status === 500
        ? { call, outcome: 'upstream-error', status }
        : { call, outcome: 'failed', status, detail: text.slice(0, 300) };
    return status === 200
      ? { call, outcome: 'completed', status }
      : { call, outcome: 'failed', status, detail: text.slice(0, 300) };
  } catch (err) {
    if (call.abort && abort.signal.aborted) return { call, outcome: 'aborted', status };
    return { call, outcome: 'failed', status, detail: String(err) };
  }
}

/**
 * Sends every call, `concurrency` at a time, spreading them over the gateways in turn (a
 * round-robin load balancer).
 */
export async function runTraffic(
  gatewayUrls: readonly string[],
  calls: readonly PlannedCall[],
  concurrency: number,
): Promise<CallResult[]> {
  const results: CallResult[] = new Array<CallResult>(calls.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      const call = calls[i];
      if (call === undefined) return;
      const url = gatewayUrls[i % gatewayUrls.length] ?? '';
      results[i] = await sendCall(url, call);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}
