import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { openLedger } from '../../src/ledger/ledger.js';
import type { UsageFilter } from '../../src/reports/usage-query.js';

/**
 * A stand-in for the dashboard server, following the contract of issue #10 on top of a real
 * ledger, used while developing the page. Serves the page's assets with the same CSP.
 */
export async function startStandInDashboard(options: {
  ledgerPath: string;
  adminKey: string;
  subscriptionKeys: Record<string, string>;
}): Promise<{ url: string; close: () => Promise<void> }> {
  const ledger = openLedger(`sqlite:${options.ledgerPath}`);
  const sessions = new Map<string, { role: 'admin' } | { role: 'subscription'; subscription: string }>();
  const publicDir = join(import.meta.dirname, '../../src/dashboard/public');
  const uplotDir = join(import.meta.dirname, '../../node_modules/uplot/dist');
  const types: Record<string, string> = {
    '.html': 'text/html; charset=utf-8',
    '.js': 'text/javascript; charset=utf-8',
    '.css': 'text/css; charset=utf-8',
  };

  function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
    res.writeHead(status, { 'content-type': type, 'content-security-policy': "default-src 'self'" });
    res.end(body);
  }
  function json(res: ServerResponse, status: number, body: unknown): void {
    send(res, status, 'application/json', JSON.stringify(body));
  }
  function session(req: IncomingMessage) {
    const id = /tm_session=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    return id === undefined ? undefined : sessions.get(id);
  }
  async function body(req: IncomingMessage): Promise<string> {
    let text = '';
    for await (const chunk of req) text += String(chunk);
    return text;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const who = session(req);
    if (url.pathname === '/dashboard' && req.method === 'GET') {
      const page = await readFile(join(publicDir, who ? 'index.html' : 'sign-in.html'), 'utf8');
      return send(res, 200, types['.html']!, page.replace('<!--tm:sign-in-error-->', ''));
    }
    if (url.pathname === '/dashboard/sign-in' && req.method === 'POST') {
      const key = new URLSearchParams(await body(req)).get('key') ?? '';
      const sub = Object.entries(options.subscriptionKeys).find(([, k]) => k === key)?.[0];
      if (key !== options.adminKey && sub === undefined) {
        const page = await readFile(join(publicDir, 'sign-in.html'), 'utf8');
        return send(
          res,
          401,
          types['.html']!,
          page.replace('<!--tm:sign-in-error-->', 'That key is not valid.'),
        );
      }
      const id = randomUUID();
      sessions.set(id, sub === undefined ? { role: 'admin' } : { role: 'subscription', subscription: sub });
      res.writeHead(303, {
        location: '/dashboard',
        'set-cookie': `tm_session=${id}; HttpOnly; SameSite=Strict; Path=/`,
      });
      return void res.end();
    }
    if (url.pathname === '/dashboard/sign-out' && req.method === 'POST') {
      res.writeHead(303, { location: '/dashboard', 'set-cookie': 'tm_session=; Max-Age=0; Path=/' });
      return void res.end();
    }
    if (url.pathname.startsWith('/dashboard/assets/')) {
      const name = url.pathname.slice('/dashboard/assets/'.length);
      if (!/^[\w.-]+$/.test(name)) return send(res, 404, 'text/plain', 'not found');
      const dir = name.startsWith('uPlot.') ? uplotDir : publicDir;
      try {
        return send(
          res,
          200,
          types[extname(name)] ?? 'application/octet-stream',
          await readFile(join(dir, name)),
        );
      } catch {
        return send(res, 404, 'text/plain', 'not found');
      }
    }
    if (!who) return json(res, 401, { error: { message: 'sign in', type: 'auth', code: 'TM_AUTH' } });
    const scope: UsageFilter[] =
      who.role === 'admin' ? [] : [{ dim: 'subscription', value: who.subscription }];
    const where = [
      ...url.searchParams
        .getAll('where')
        .map((w) => ({ dim: w.split(':')[0]!, value: w.slice(w.indexOf(':') + 1) })),
      ...scope,
    ];
    const since = url.searchParams.get('since');
    const until = url.searchParams.get('until');
    const range = {
      ...(since ? { since: Date.parse(since) } : {}),
      ...(until ? { until: Date.parse(until) } : {}),
    };
    if (url.pathname === '/api/session') return json(res, 200, { ...who, currency: 'USD' });
    if (url.pathname === '/api/dimensions') {
      const name = url.searchParams.get('name');
      if (!name) {
        const custom = await ledger.customDimensionNames();
        return json(res, 200, {
          dimensions: [
            { name: 'subscription', label: 'Subscription ID' },
            { name: 'model', label: 'Model' },
            { name: 'operation', label: 'Operation ID' },
            ...custom.map((c) => ({ name: c, label: c, custom: true })),
          ],
        });
      }
      const values = await ledger.dimensionValues(name, { ...range, where }, 101);
      return json(res, 200, { name, values: values.slice(0, 100), truncated: values.length > 100 });
    }
    if (url.pathname === '/api/usage') {
      const interval = url.searchParams.get('interval');
      const rows = await ledger.query({
        by: (url.searchParams.get('by') ?? '').split(',').filter(Boolean),
        ...range,
        ...(interval ? { interval: interval === '1h' ? 3_600_000 : 86_400_000 } : {}),
        where,
      });
      return json(res, 200, rows);
    }
    return json(res, 404, { error: { message: 'not found', type: 'not_found', code: 'TM_NOT_FOUND' } });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) =>
      json(res, 400, { error: { message: String(err), type: 'x', code: 'x' } }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await ledger.close();
    },
  };
}
