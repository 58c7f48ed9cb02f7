// A real gateway with a simulator upstream (OpenAI and Anthropic shapes) and a real SQLite
// ledger, configured with the metric sinks a test gives; calls go through it over HTTP.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import type { MetricSinkOptions } from '../../src/sinks/metric-sinks.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';

export const KEYS = { a: 'key-team-a-0001', b: 'key-team-b-0001' };

export interface SinkGateway {
  gw: Gateway;
  sim: Simulator;
  close(): Promise<void>;
}

/** `metrics` is the config's `metrics` key; `tokenMetrics` defaults to one APIM-style entry. */
export async function startSinkGateway(
  metrics: unknown,
  options: MetricSinkOptions = {},
  tokenMetrics: unknown = [
    {
      namespace: 'openai_usage',
      dimensions: ['API ID', 'Subscription ID', 'model', { name: 'app', value: "request.headers['x-app']" }],
    },
  ],
): Promise<SinkGateway> {
  const sim = await startSimulator({ completionTokens: 3 });
  const ledger = join(mkdtempSync(join(tmpdir(), 'tokenmeter-sinks-')), 'ledger.db');
  const config = configSchema.parse({
    gateway: { id: 'gw-test-1', location: 'westeurope' },
    backends: [
      { id: 'oai', type: 'openai', url: `${sim.url}/v1`, apiKey: 'sk-up' },
      { id: 'claude', type: 'anthropic', url: sim.url, apiKey: 'ant-up' },
    ],
    apis: [
      { id: 'openai', path: '/openai/v1', type: 'openai', backend: 'oai' },
      { id: 'anthropic', path: '/anthropic', type: 'anthropic', backend: 'claude' },
    ],
    products: [{ id: 'std', apis: ['openai', 'anthropic'] }],
    subscriptions: [
      { id: 'team-a', key: KEYS.a, product: 'std' },
      { id: 'team-b', key: KEYS.b, product: 'std' },
    ],
    tokenMetrics,
    metrics,
  });
  const gw = await startGateway(config, {
    port: 0,
    ledgerUrl: `sqlite:${ledger}`,
    logger: pino({ level: process.env.SINK_TEST_LOG ?? 'silent' }),
    metricSinks: options,
  });
  return {
    gw,
    sim,
    async close() {
      await gw.close();
      await sim.close();
    },
  };
}

/** What one call reported (from the client's view of the answer). */
export interface CallUsage {
  status: number;
  prompt: number;
  completion: number;
  model: string;
}

/** A chat completion through the gateway; `fail` asks the simulator for an upstream failure. */
export async function chat(
  gw: Gateway,
  key: string,
  model = 'gpt-4o-mini',
  headers: Record<string, string> = {},
): Promise<CallUsage> {
  const res = await fetch(`${gw.url}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hello there, how are you?' }] }),
  });
  const body = (await res.json()) as {
    usage?: { prompt_tokens: number; completion_tokens: number };
    model?: string;
  };
  return {
    status: res.status,
    prompt: body.usage?.prompt_tokens ?? 0,
    completion: body.usage?.completion_tokens ?? 0,
    model: body.model ?? '',
  };
}

/** An Anthropic Messages call through the gateway. */
export async function messages(
  gw: Gateway,
  key: string,
  headers: Record<string, string> = {},
): Promise<CallUsage> {
  const res = await fetch(`${gw.url}/anthropic/v1/messages`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-api-key': key,
      'anthropic-version': '2023-06-01',
      ...headers,
    },
    body: JSON.stringify({
      model: 'claude-sonnet-4-5',
      max_tokens: 50,
      messages: [{ role: 'user', content: 'tell me something' }],
    }),
  });
  const body = (await res.json()) as {
    usage?: { input_tokens: number; output_tokens: number };
    model?: string;
  };
  assert.equal(res.status, 200);
  return {
    status: res.status,
    prompt: body.usage?.input_tokens ?? 0,
    completion: body.usage?.output_tokens ?? 0,
    model: body.model ?? '',
  };
}
