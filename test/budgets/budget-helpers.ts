import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { SMTPServer } from 'smtp-server';
import { configSchema, type Config } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';

export const KEY = 'team-a-key-123';
export const silent = pino({ level: 'silent' });

/** A gateway config with one simulator backend and team-a carrying `budget`. */
export function budgetConfig(
  ledger: string,
  budget: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Config {
  return configSchema.parse({
    ledger,
    backends: [{ id: 'sim', type: 'simulator', simulator: { completionTokens: 10 } }],
    apis: [{ id: 'openai', path: '/openai/v1', type: 'openai', backend: 'sim' }],
    products: [{ id: 'p', apis: ['openai'] }],
    subscriptions: [{ id: 'team-a', key: KEY, product: 'p', owner: 'lead@team-a.example', budget }],
    ...extra,
  });
}

export function startBudgetGateway(config: Config, clock?: () => number): Promise<Gateway> {
  return startGateway(config, {
    port: 0,
    logger: silent,
    budgets: { refreshMs: 50, ...(clock !== undefined ? { clock } : {}) },
  });
}

/** One chat call of team-a; resolves with the status and the parsed body. */
export async function chat(gw: Gateway): Promise<{ status: number; body: { error?: { code?: string } } }> {
  const res = await fetch(`${gw.url}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'api-key': KEY },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  return { status: res.status, body: (await res.json()) as { error?: { code?: string } } };
}

/** A webhook receiver on port 0: keeps the JSON bodies it accepted; answers 503 while `failing`. */
export interface WebhookReceiver {
  url: string;
  received: Array<Record<string, unknown>>;
  attempts: number;
  failing: boolean;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const receiver: WebhookReceiver = {
    url: '',
    received: [],
    attempts: 0,
    failing: false,
    close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      receiver.attempts++;
      if (receiver.failing) {
        res.writeHead(503).end();
        return;
      }
      receiver.received.push(JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`;
  receiver.close = () => new Promise((resolve) => server.close(() => resolve()));
  return receiver;
}

/** A real SMTP server (smtp-server) on port 0 keeping each message's recipient and text. */
export interface MailReceiver {
  port: number;
  mails: Array<{ to: string; text: string }>;
  close(): Promise<void>;
}

export async function startMailReceiver(): Promise<MailReceiver> {
  const mails: MailReceiver['mails'] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const to = session.envelope.rcptTo.map((r) => r.address).join(',');
        mails.push({ to, text: Buffer.concat(chunks).toString() });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { port, mails, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Polls `check` until it holds or `ms` pass (then throws). */
export async function until(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met before the deadline');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The thresholds of the alerts received, sorted. */
export function thresholds(alerts: ReadonlyArray<Record<string, unknown>>): number[] {
  return alerts.map((a) => Number(a['threshold'])).sort((a, b) => a - b);
}
