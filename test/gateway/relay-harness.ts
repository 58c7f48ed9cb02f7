import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import assert from 'node:assert/strict';
import pino from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { readLedgerRows, type LedgerRow } from '../helpers/ledger-rows.js';
import { startRogueBackend, type RogueBackend } from '../helpers/rogue-backend.js';
import type { ProviderCase } from './rogue-answers.js';

/**
 * A gateway in this process in front of one rogue backend, with an OpenAI, an Anthropic and a
 * Gemini API, a ledger in a temp dir and the warnings it logs, for the relay's hardening tests.
 */
export interface RelayHarness {
  rogue: RogueBackend;
  gw: Gateway;
  ledgerPath: string;
  /** Warning (and worse) log lines, parsed. */
  warnings: Record<string, unknown>[];
  rows(): LedgerRow[];
  close(): Promise<void>;
}

export const KEY = 'relay-key-123';

/** The client-side paths of each API, by provider and operation. */
export const PATHS = {
  chat: '/openai/v1/chat/completions',
  responses: '/openai/v1/responses',
  anthropic: '/anthropic/v1/messages',
  gemini: '/gemini/v1beta/models/gemini-2.5-flash:generateContent',
  geminiSse: '/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse',
} as const;

export async function startRelayHarness(gateway: Record<string, unknown> = {}): Promise<RelayHarness> {
  const rogue = await startRogueBackend();
  const dir = mkdtempSync(join(tmpdir(), 'tokenmeter-relay-'));
  const ledgerPath = join(dir, 'ledger.db');
  const warnings: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n'))
        if (line !== '') warnings.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const config = configSchema.parse({
    gateway: { host: '127.0.0.1', ...gateway },
    ledger: `sqlite:${ledgerPath}`,
    backends: [
      { id: 'rogue-openai', type: 'openai', url: `${rogue.url}/v1`, apiKey: 'sk-backend' },
      { id: 'rogue-anthropic', type: 'anthropic', url: rogue.url, apiKey: 'sk-ant' },
      { id: 'rogue-gemini', type: 'gemini', url: rogue.url, apiKey: 'AIza-backend' },
    ],
    apis: [
      { id: 'openai', path: '/openai/v1', type: 'openai', backend: 'rogue-openai' },
      { id: 'anthropic', path: '/anthropic', type: 'anthropic', backend: 'rogue-anthropic' },
      { id: 'gemini', path: '/gemini', type: 'gemini', backend: 'rogue-gemini' },
    ],
    products: [{ id: 'std', apis: ['openai', 'anthropic', 'gemini'] }],
    subscriptions: [{ id: 'team-a', key: KEY, product: 'std' }],
  });
  const gw = await startGateway(config, {
    port: 0,
    ledgerUrl: `sqlite:${ledgerPath}`,
    logger: pino({ level: 'warn' }, sink),
  });
  return {
    rogue,
    gw,
    ledgerPath,
    warnings,
    rows: () => readLedgerRows(ledgerPath),
    async close() {
      await gw.close();
      await rogue.close();
    },
  };
}

/** What a client saw of one call. */
export interface ClientView {
  /** 0 when no response head arrived. */
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** 1xx answers the client received, in order. */
  informational: { status: number; headers: Record<string, string | string[] | undefined> }[];
  body: Buffer;
  /** Set when the response was cut (or never came). */
  error?: Error;
}

export interface CallOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** Called with each body chunk as it arrives (e.g. to look at the ledger at that moment). */
  onChunk?: (chunk: Buffer, soFar: Buffer) => void;
  /** Aborts the request once the gateway has forwarded it (the rogue backend recorded it). */
  abortWhen?: () => boolean;
}

/** A call through the gateway with node:http, which shows 1xx answers, raw bytes and cuts. */
export function callGateway(h: RelayHarness, path: string, options: CallOptions = {}): Promise<ClientView> {
  const payload = Buffer.from(JSON.stringify(options.body ?? { model: 'gpt-4o-mini', messages: [] }));
  const url = new URL(h.gw.url + path);
  return new Promise((resolve) => {
    const view: ClientView = { status: 0, headers: {}, informational: [], body: Buffer.alloc(0) };
    const req = request(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${KEY}`,
        'x-api-key': KEY,
        'content-type': 'application/json',
        'content-length': payload.length,
        ...options.headers,
      },
    });
    req.on('information', (info) =>
      view.informational.push({ status: info.statusCode, headers: info.headers }),
    );
    req.on('response', (res) => {
      view.status = res.statusCode ?? 0;
      view.headers = res.headers;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        options.onChunk?.(chunk, Buffer.concat(chunks));
      });
      res.on('end', () => resolve({ ...view, body: Buffer.concat(chunks) }));
      res.on('error', (error) => resolve({ ...view, body: Buffer.concat(chunks), error }));
      res.on('aborted', () => undefined);
    });
    req.on('error', (error) => resolve({ ...view, error }));
    req.end(payload);
    if (options.abortWhen !== undefined) {
      const abortWhen = options.abortWhen;
      const poll = setInterval(() => {
        if (!abortWhen()) return;
        clearInterval(poll);
        req.destroy();
        resolve({ ...view, error: new Error('aborted by the test') });
      }, 5);
    }
  });
}

/** Waits until `check` holds (a record the relay commits after the client saw the end, e.g. 499). */
export async function eventually<T>(check: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The harness's latest ledger row. */
export function lastRow(h: RelayHarness): LedgerRow | undefined {
  return h.rows().at(-1);
}

/** Asserts that the latest record is a 200 with the provider's exact counts, reported, unflagged. */
export function assertLastReported(h: RelayHarness, provider: ProviderCase, label: string): void {
  const row = lastRow(h);
  assert.equal(row?.status, 200, label);
  assert.equal(row?.source, 'reported', label);
  assert.equal(row?.prompt_tokens, provider.prompt, label);
  assert.equal(row?.completion_tokens, provider.completion, label);
  assert.equal(row?.flags, null, label);
}
