import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdminKey } from '../admin/admin-key.js';
import { readBearerToken } from '../auth/client-credentials.js';
import type { SubscriptionDirectory } from '../auth/subscription-directory.js';
import type { Config } from '../config/schema.js';
import { TokenmeterError } from '../errors.js';
import type { ClientIpResolver } from '../gateway/client-ip.js';
import { readBody } from '../gateway/read-body.js';
import { sendError, sendUnknownError } from '../gateway/send-error.js';
import type { Ledger } from '../ledger/ledger.js';
import { PAGE_HEADERS, sendBody, signInPage } from './dashboard-http.js';
import { createQueryApi } from './query-api.js';
import { createSessionStore, readSessionCookie, SESSION_COOKIE, SESSION_TTL_MS } from './sessions.js';
import { createSignInLimiter } from './sign-in-limiter.js';
import { loadStaticAssets, type StaticAsset } from './static-assets.js';
import type { Viewer } from './viewer-scope.js';

/** What the dashboard needs from the gateway (or from `tokenmeter dashboard`). */
export interface DashboardDeps {
  config: Config;
  ledger: Ledger;
  ledgerUrl: string;
  adminKey: AdminKey;
  /** The YAML and managed subscription keys, as the gateway accepts them. */
  subscriptions: Pick<SubscriptionDirectory, 'identify'>;
  /** The client address failed sign-ins are counted against (trusted proxies honoured). */
  clientIp: ClientIpResolver;
  /** Where index.html, sign-in.html and their scripts are (tests); default src/dashboard/public. */
  publicDir?: string;
  now?: () => number;
}

/** The dashboard and its query API, mounted by an HTTP server in front of everything else. */
export interface Dashboard {
  /** Whether the request target is the dashboard's: `/dashboard…` or `/api…` on a segment boundary. */
  serves(url: string): boolean;
  /** Answers one request; never rejects (errors are sent as the gateway's JSON errors). */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

/** Sign-in bodies are one short form field: anything bigger is refused unread. */
const SIGN_IN_BODY_LIMIT = 4096;
const ASSET_PREFIX = '/dashboard/assets/';

function underPrefix(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(`${prefix}/`);
}

/**
 * Builds the routes (see docs/dashboard.md): `GET /dashboard` (the app with a session, else the
 * sign-in page), `GET /dashboard/assets/NAME`, `POST /dashboard/sign-in` and `/sign-out`, and
 * `GET /api/{session,usage,dimensions,report}` for a session cookie or `Authorization: Bearer`.
 */
export function createDashboard(deps: DashboardDeps): Dashboard {
  const now = deps.now ?? Date.now;
  const assets = loadStaticAssets(deps.publicDir);
  const sessions = createSessionStore({ now });
  const limiter = createSignInLimiter({ now });
  const api = createQueryApi({ config: deps.config, ledger: deps.ledger, ledgerUrl: deps.ledgerUrl, now });

  /** The viewer a key opens, else undefined. The admin key wins (it never equals a subscription key). */
  function identifyKey(key: string): Viewer | undefined {
    if (deps.adminKey.matches(key)) return { role: 'admin' };
    try {
      return { role: 'subscription', subscription: deps.subscriptions.identify(key).id };
    } catch (err) {
      if (err instanceof TokenmeterError && err.code === 'TM_UNAUTHORIZED') return undefined;
      throw err;
    }
  }

  /** The viewer of a session cookie; a session whose key no longer opens anything ends here. */
  function sessionViewer(req: IncomingMessage): { id: string; viewer: Viewer } | undefined {
    const id = readSessionCookie(req.headers.cookie);
    const session = id === undefined ? undefined : sessions.get(id);
    if (id === undefined || session === undefined) return undefined;
    const viewer = identifyKey(session.key);
    if (viewer === undefined) sessions.delete(id);
    return viewer === undefined ? undefined : { id, viewer };
  }

  function clientOf(req: IncomingMessage): string {
    return deps.clientIp.resolve(req) ?? 'unknown';
  }

  function page(name: string): StaticAsset {
    const asset = assets.get(name);
    if (asset === undefined)
      throw new TokenmeterError('TM_NOT_FOUND', `The dashboard page ${name} is not installed.`);
    return asset;
  }

  function sendSignIn(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    message: string,
    headers = {},
  ): void {
    sendBody(
      req,
      res,
      status,
      { ...PAGE_HEADERS, ...headers },
      signInPage(page('sign-in.html').body.toString('utf8'), message),
    );
  }

  function requireMethod(req: IncomingMessage, res: ServerResponse, methods: readonly string[]): void {
    if (methods.includes(req.method ?? 'GET')) return;
    res.setHeader('allow', methods.join(', '));
    throw new TokenmeterError('TM_METHOD_NOT_ALLOWED', `Use ${methods.join(' or ')} here.`);
  }

  /** A POST from another site's page is refused even before SameSite would drop its cookie. */
  function checkOrigin(req: IncomingMessage): void {
    const origin = req.headers.origin;
    if (origin === undefined) return;
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {
      host = undefined;
    }
    if (host === undefined || host !== req.headers.host)
      throw new TokenmeterError('TM_FORBIDDEN', 'Cross-site form posts are refused.');
  }

  async function signIn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    requireMethod(req, res, ['POST']);
    checkOrigin(req);
    const client = clientOf(req);
    const wait = limiter.blockedFor(client);
    if (wait !== undefined) {
      req.resume();
      sendSignIn(req, res, 429, `Too many failed sign-ins from your address: try again in ${wait} seconds.`, {
        'retry-after': String(wait),
      });
      return;
    }
    const type = req.headers['content-type'] ?? '';
    if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
      req.resume();
      sendSignIn(req, res, 400, 'Sign in with the form.');
      return;
    }
    let body: Buffer;
    try {
      body = await readBody(req, SIGN_IN_BODY_LIMIT);
    } catch (err) {
      if (!(err instanceof TokenmeterError)) throw err;
      sendSignIn(req, res, err.status, 'The sign-in form was too large or cut short.');
      return;
    }
    const key = new URLSearchParams(body.toString('utf8')).get('key')?.trim() ?? '';
    if (key === '') {
      sendSignIn(req, res, 401, 'Enter the admin key or a subscription key.');
      return;
    }
    if (identifyKey(key) === undefined) {
      limiter.fail(client);
      sendSignIn(req, res, 401, 'That key is not valid: use the admin key or a live subscription key.');
      return;
    }
    const id = sessions.create(key);
    const secure = 'encrypted' in req.socket && req.socket.encrypted === true ? '; Secure' : '';
    res.writeHead(303, {
      location: '/dashboard',
      'set-cookie': `${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_TTL_MS / 1000}${secure}`,
      'cache-control': 'no-store',
      'content-length': 0,
    });
    res.end();
  }

  function signOut(req: IncomingMessage, res: ServerResponse): void {
    requireMethod(req, res, ['POST']);
    checkOrigin(req);
    req.resume();
    const id = readSessionCookie(req.headers.cookie);
    if (id !== undefined) sessions.delete(id);
    res.writeHead(303, {
      location: '/dashboard',
      'set-cookie': `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`,
      'cache-control': 'no-store',
      'content-length': 0,
    });
    res.end();
  }

  /** The API's viewer: a Bearer key (wrong ones count as failed sign-ins), else the session cookie. */
  function apiViewer(req: IncomingMessage, res: ServerResponse): Viewer {
    const bearer = readBearerToken(req.headers);
    if (bearer !== undefined) {
      const client = clientOf(req);
      const wait = limiter.blockedFor(client);
      if (wait !== undefined) {
        res.setHeader('retry-after', String(wait));
        throw new TokenmeterError(
          'TM_RATE_LIMITED',
          `Too many wrong keys from your address: retry in ${wait} s.`,
        );
      }
      const viewer = identifyKey(bearer);
      if (viewer !== undefined) return viewer;
      limiter.fail(client);
      throw new TokenmeterError(
        'TM_UNAUTHORIZED',
        'Wrong key: send the admin key or a live subscription key.',
      );
    }
    const session = sessionViewer(req);
    if (session !== undefined) return session.viewer;
    throw new TokenmeterError(
      'TM_UNAUTHORIZED',
      'Sign in at /dashboard, or send a key as Authorization: Bearer <key>.',
    );
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const path = url.pathname;
    if (underPrefix(path, '/api')) {
      const viewer = apiViewer(req, res);
      await api.handle(req, res, path, url.searchParams, viewer);
      return;
    }
    if (path === '/dashboard' || path === '/dashboard/') {
      requireMethod(req, res, ['GET', 'HEAD']);
      if (sessionViewer(req) !== undefined) sendBody(req, res, 200, PAGE_HEADERS, page('index.html').body);
      else sendSignIn(req, res, 200, '');
      return;
    }
    if (path === '/dashboard/sign-in') return signIn(req, res);
    if (path === '/dashboard/sign-out') return signOut(req, res);
    if (path.startsWith(ASSET_PREFIX)) {
      requireMethod(req, res, ['GET', 'HEAD']);
      const asset = assets.get(path.slice(ASSET_PREFIX.length));
      if (asset === undefined) throw new TokenmeterError('TM_NOT_FOUND', `No dashboard asset ${path}.`);
      sendBody(
        req,
        res,
        200,
        {
          'content-type': asset.contentType,
          'cache-control': 'no-cache',
          'x-content-type-options': 'nosniff',
        },
        asset.body,
      );
      return;
    }
    throw new TokenmeterError('TM_NOT_FOUND', `No dashboard page ${path}.`);
  }

  return {
    serves(url) {
      const path = url.split('?')[0] ?? '';
      return underPrefix(path, '/dashboard') || underPrefix(path, '/api');
    },
    async handle(req, res) {
      try {
        await route(req, res);
      } catch (err) {
        // Unread request bodies (a POST to /api) are drained so keep-alive stays usable.
        req.resume();
        if (err instanceof TokenmeterError) sendError(res, err);
        else sendUnknownError(res, err);
      }
    },
  };
}
