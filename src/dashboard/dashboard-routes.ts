import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AdminKey } from '../admin/admin-key.js';
import { readBearerToken } from '../auth/client-credentials.js';
import type { SubscriptionDirectory } from '../auth/subscription-directory.js';
import type { Config } from '../config/schema.js';
import { TokenmeterError } from '../errors.js';
import type { ClientIpResolver } from '../gateway/client-ip.js';
import { sendError, sendUnknownError } from '../gateway/send-error.js';
import type { Ledger } from '../ledger/ledger.js';
import { PAGE_HEADERS, requireMethod, sendBody, signInPage } from './dashboard-http.js';
import { createQueryApi } from './query-api.js';
import { createSessionStore, readSessionCookie } from './sessions.js';
import { signIn, signOut } from './sign-in-routes.js';
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
  /** Receives unexpected failures (a ledger error); keys and cookies are never logged. */
  log?: Pick<Logger, 'error'>;
  now?: () => number;
}

/** The dashboard and its query API, mounted by an HTTP server in front of everything else. */
export interface Dashboard {
  /** Whether the request target is the dashboard's: `/dashboard…` or `/api…` on a segment boundary. */
  serves(url: string): boolean;
  /** Answers one request; never rejects (errors are sent as the gateway's JSON errors). */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

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
    // The raw target, not a URL object: `..` and `//host` are not resolved, so a path is only
    // ever compared as sent, and anything unexpected is a 404.
    const target = req.url ?? '/';
    const query = target.indexOf('?');
    const path = query < 0 ? target : target.slice(0, query);
    if (underPrefix(path, '/api')) {
      const viewer = apiViewer(req, res);
      const search = new URLSearchParams(query < 0 ? '' : target.slice(query + 1));
      await api.handle(req, res, path, search, viewer);
      return;
    }
    if (path === '/dashboard' || path === '/dashboard/') {
      requireMethod(req, res, ['GET', 'HEAD']);
      if (sessionViewer(req) !== undefined) sendBody(req, res, 200, PAGE_HEADERS, page('index.html').body);
      else sendSignIn(req, res, 200, '');
      return;
    }
    if (path === '/dashboard/sign-in')
      return signIn(req, res, { sessions, limiter, identifyKey, clientOf, sendSignIn });
    if (path === '/dashboard/sign-out') return signOut(req, res, sessions);
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
        if (err instanceof TokenmeterError) {
          sendError(res, err);
          return;
        }
        deps.log?.error({ err, path: (req.url ?? '').split('?')[0] }, 'dashboard request failed');
        sendUnknownError(res, err);
      }
    },
  };
}
