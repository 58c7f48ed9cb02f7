import type { IncomingMessage, ServerResponse } from 'node:http';
import { TokenmeterError } from '../errors.js';
import { readBody } from '../gateway/read-body.js';
import { checkOrigin, requireMethod } from './dashboard-http.js';
import { readSessionCookie, SESSION_COOKIE, SESSION_TTL_MS, type SessionStore } from './sessions.js';
import type { SignInLimiter } from './sign-in-limiter.js';
import type { Viewer } from './viewer-scope.js';

/** Sign-in bodies are one short form field: anything bigger is refused unread. */
const SIGN_IN_BODY_LIMIT = 4096;

/** What signing in and out use from the dashboard. */
export interface SignInDeps {
  sessions: SessionStore;
  limiter: SignInLimiter;
  /** The viewer a key opens, else undefined. */
  identifyKey(key: string): Viewer | undefined;
  /** The client address failures are counted against. */
  clientOf(req: IncomingMessage): string;
  /** Sends the sign-in page with `message` in its error placeholder. */
  sendSignIn(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    message: string,
    headers?: Record<string, string>,
  ): void;
}

/**
 * `POST /dashboard/sign-in` (form field `key`): a key that opens a viewer starts a session
 * (HttpOnly, SameSite=Strict cookie; 303 to /dashboard); otherwise the sign-in page with the
 * reason: 401 for a wrong key (counted against the client address), 429 with Retry-After once
 * the address is blocked, 400 for a body that is not a form, 413 for one over 4 KiB.
 */
export async function signIn(req: IncomingMessage, res: ServerResponse, deps: SignInDeps): Promise<void> {
  requireMethod(req, res, ['POST']);
  checkOrigin(req);
  const client = deps.clientOf(req);
  const wait = deps.limiter.blockedFor(client);
  if (wait !== undefined) {
    req.resume();
    deps.sendSignIn(
      req,
      res,
      429,
      `Too many failed sign-ins from your address: try again in ${wait} seconds.`,
      {
        'retry-after': String(wait),
      },
    );
    return;
  }
  const type = req.headers['content-type'] ?? '';
  if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    req.resume();
    deps.sendSignIn(req, res, 400, 'Sign in with the form.');
    return;
  }
  let body: Buffer;
  try {
    body = await readBody(req, SIGN_IN_BODY_LIMIT);
  } catch (err) {
    if (!(err instanceof TokenmeterError)) throw err;
    deps.sendSignIn(req, res, err.status, 'The sign-in form was too large or cut short.');
    return;
  }
  const key = new URLSearchParams(body.toString('utf8')).get('key')?.trim() ?? '';
  if (key === '') {
    deps.sendSignIn(req, res, 401, 'Enter the admin key or a subscription key.');
    return;
  }
  if (deps.identifyKey(key) === undefined) {
    deps.limiter.fail(client);
    deps.sendSignIn(req, res, 401, 'That key is not valid: use the admin key or a live subscription key.');
    return;
  }
  const id = deps.sessions.create(key);
  // Secure only on TLS: a plain-HTTP gateway (localhost, behind a proxy) must still sign in.
  const secure = 'encrypted' in req.socket && req.socket.encrypted === true ? '; Secure' : '';
  res.writeHead(303, {
    location: '/dashboard',
    'set-cookie': `${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_TTL_MS / 1000}${secure}`,
    'cache-control': 'no-store',
    'content-length': 0,
  });
  res.end();
}

/** `POST /dashboard/sign-out`: ends the session on the server, clears the cookie, 303 to /dashboard. */
export function signOut(req: IncomingMessage, res: ServerResponse, sessions: SessionStore): void {
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
