import { escapeHtml } from '../reports/report-html.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TokenmeterError } from '../errors.js';

/**
 * The dashboard pages' Content-Security-Policy: only the gateway's own scripts, styles and
 * requests (no inline script, no CDN); images also from `data:` and `blob:`, which the chart
 * and the CSV download use; no framing, no plugins, forms post only here.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

/** Headers of every dashboard page: never cached (it depends on who is signed in), never framed. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // same-origin, not no-referrer: under no-referrer Chromium posts our own forms with
  // `Origin: null`, which checkOrigin must refuse; other sites still get no referrer.
  'referrer-policy': 'same-origin',
});

/** Sends a body, or only the headers for HEAD. */
export function sendBody(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  headers: Readonly<Record<string, string | number | string[]>>,
  body: string | Buffer,
): void {
  res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** A JSON answer of the query API: never cached, since it depends on the key that asked. */
export function sendJson(req: IncomingMessage, res: ServerResponse, value: unknown): void {
  sendBody(
    req,
    res,
    200,
    { 'content-type': 'application/json', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' },
    JSON.stringify(value),
  );
}

/** The placeholder of sign-in.html that receives the error message of a failed sign-in. */
export const SIGN_IN_ERROR_PLACEHOLDER = '<!--tm:sign-in-error-->';

/** The sign-in page with `message` (escaped) in place of the placeholder; '' leaves it empty. */
export function signInPage(template: string, message: string): string {
  return template.replace(SIGN_IN_ERROR_PLACEHOLDER, () => escapeHtml(message));
}

/** Throws TM_METHOD_NOT_ALLOWED (405, with Allow) unless the request uses one of `methods`. */
export function requireMethod(req: IncomingMessage, res: ServerResponse, methods: readonly string[]): void {
  if (methods.includes(req.method ?? 'GET')) return;
  res.setHeader('allow', methods.join(', '));
  throw new TokenmeterError('TM_METHOD_NOT_ALLOWED', `Use ${methods.join(' or ')} here.`);
}

/**
 * A POST whose Origin is not this host (another site's page) is refused with TM_FORBIDDEN, even
 * before SameSite would drop its cookie. Without an Origin header (curl, old browsers) it passes.
 */
export function checkOrigin(req: IncomingMessage): void {
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
