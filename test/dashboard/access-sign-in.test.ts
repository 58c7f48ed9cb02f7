import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateKeyId, generateManagedKey } from '../../src/auth/key-secret.js';
import { createSqliteKeyStore } from '../../src/auth/sqlite-key-store.js';
import { ADMIN_KEY, errorOf, getJson, startFixture, TEAM_A_KEY, type Fixture } from './api-fixture.js';

function signIn(url: string, key: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/dashboard/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams({ key }).toString(),
  });
}

/** The `tm_session=…` pair of a Set-Cookie header. */
function cookieOf(res: Response): string {
  const header = res.headers.get('set-cookie') ?? '';
  return header.split(';')[0] ?? '';
}

describe('dashboard sign-in, sessions and pages', () => {
  let fx: Fixture;
  let managed: { key: string; id: string };
  before(async () => {
    fx = await startFixture({
      before: async (ledgerPath) => {
        const store = createSqliteKeyStore(ledgerPath);
        const generated = generateManagedKey();
        const id = generateKeyId();
        await store.createKey({
          key: { id, subscription: 'team-m', product: 'standard', createdAt: Date.now() },
          digest: generated.digest,
          subscription: { id: 'team-m', product: 'standard', metadata: {}, createdAt: Date.now() },
        });
        await store.close();
        managed = { key: generated.key, id };
      },
    });
  });
  after(() => fx.close());

  it('serves the sign-in page without a session, with no-store and a strict CSP', async () => {
    for (const path of ['/dashboard', '/dashboard/']) {
      const res = await fetch(`${fx.url}${path}`);
      assert.equal(res.status, 200);
      const html = await res.text();
      assert.match(html, /<title>sign in<\/title>/);
      assert.doesNotMatch(html, /tm:sign-in-error/);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'self'/);
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.match(csp, /img-src 'self' data: blob:/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    }
  });

  it('signs in with the admin key: an HttpOnly, SameSite=Strict cookie, 303 to /dashboard', async () => {
    const res = await signIn(fx.url, ADMIN_KEY);
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/dashboard');
    const setCookie = res.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /^tm_session=[A-Za-z0-9_-]{43}; /);
    assert.match(setCookie, /; HttpOnly/);
    assert.match(setCookie, /; SameSite=Strict/);
    assert.match(setCookie, /; Path=\//);
    assert.match(setCookie, /; Max-Age=28800/);
    const cookie = cookieOf(res);
    const page = await fetch(`${fx.url}/dashboard`, { headers: { cookie } });
    assert.match(await page.text(), /<title>app<\/title>/);
    assert.equal(page.headers.get('cache-control'), 'no-store');
    const session = await getJson(`${fx.url}/api/session`, undefined, { cookie });
    assert.deepEqual(session.body, { role: 'admin', currency: 'USD' });
  });

  it('signs in with a subscription key and signs out', async () => {
    const cookie = cookieOf(await signIn(fx.url, TEAM_A_KEY));
    const session = await getJson(`${fx.url}/api/session`, undefined, { cookie });
    assert.deepEqual(session.body, { role: 'subscription', subscription: 'team-a', currency: 'USD' });
    const out = await fetch(`${fx.url}/dashboard/sign-out`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie },
    });
    assert.equal(out.status, 303);
    assert.equal(out.headers.get('location'), '/dashboard');
    assert.match(out.headers.get('set-cookie') ?? '', /^tm_session=; .*Max-Age=0/);
    // The session is gone on the server, not only in this browser.
    assert.equal((await getJson(`${fx.url}/api/session`, undefined, { cookie })).status, 401);
    assert.match(await (await fetch(`${fx.url}/dashboard`, { headers: { cookie } })).text(), /sign in/);
  });

  it('refuses a wrong key with 401 and the escaped message in the sign-in page', async () => {
    const res = await signIn(fx.url, '<script>alert(1)</script>', { 'x-forwarded-for': '203.0.113.9' });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('set-cookie'), null);
    const html = await res.text();
    assert.match(html, /<p class="error">That key is not valid[^<]*<\/p>/);
    assert.doesNotMatch(html, /<script>alert/);
    const empty = await signIn(fx.url, '');
    assert.equal(empty.status, 401);
    const notForm = await fetch(`${fx.url}/dashboard/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: ADMIN_KEY }),
    });
    assert.equal(notForm.status, 400);
    const huge = await fetch(`${fx.url}/dashboard/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `key=${'k'.repeat(5000)}`,
    });
    assert.equal(huge.status, 413);
    const get = await fetch(`${fx.url}/dashboard/sign-in`);
    assert.equal(get.status, 405);
    const crossSite = await signIn(fx.url, ADMIN_KEY, { origin: 'https://evil.example' });
    assert.equal(crossSite.status, 403);
    assert.equal((await signIn(fx.url, ADMIN_KEY, { origin: 'null' })).status, 403);
    // The browser's own post carries this host as Origin (referrer-policy same-origin keeps it).
    assert.equal((await signIn(fx.url, ADMIN_KEY, { origin: fx.url })).status, 303);
    assert.equal((await fetch(`${fx.url}/dashboard`)).headers.get('referrer-policy'), 'same-origin');
  });

  it('answers 401 to the API without a key, with a wrong key, or with an unknown cookie', async () => {
    for (const path of [
      '/api/session',
      '/api/usage',
      '/api/dimensions',
      '/api/report?month=2026-01',
      '/api/nothing',
    ]) {
      const none = await getJson(`${fx.url}${path}`, undefined);
      assert.equal(none.status, 401, path);
      assert.equal(errorOf(none.body).code, 'TM_UNAUTHORIZED');
      assert.equal(none.headers.get('www-authenticate'), 'Bearer');
      assert.equal(
        (await getJson(`${fx.url}${path}`, undefined, { cookie: 'tm_session=forged' })).status,
        401,
      );
    }
    // A session cookie is not a key, and a key is not a session.
    assert.equal(
      (await getJson(`${fx.url}/api/session`, undefined, { cookie: `tm_session=${ADMIN_KEY}` })).status,
      401,
    );
  });

  it('ends the session of a managed key once it is revoked', async () => {
    const cookie = cookieOf(await signIn(fx.url, managed.key));
    assert.deepEqual((await getJson(`${fx.url}/api/session`, undefined, { cookie })).body, {
      role: 'subscription',
      subscription: 'team-m',
      currency: 'USD',
    });
    const store = createSqliteKeyStore(fx.ledgerPath);
    await store.revokeKey(managed.id, Date.now());
    await store.close();
    // The dashboard polls the key store every keyRefreshMs (100 ms here): wait for the reload.
    let status = 200;
    for (let i = 0; i < 200 && status === 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      status = (await getJson(`${fx.url}/api/session`, undefined, { cookie })).status;
    }
    assert.equal(status, 401);
    assert.match(await (await fetch(`${fx.url}/dashboard`, { headers: { cookie } })).text(), /sign in/);
    assert.equal((await getJson(`${fx.url}/api/session`, managed.key)).status, 401);
  });

  it('serves the allow-listed assets only, uPlot included, without a session', async () => {
    const js = await fetch(`${fx.url}/dashboard/assets/uPlot.iife.min.js`);
    assert.equal(js.status, 200);
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.match(await js.text(), /uPlot/);
    const css = await fetch(`${fx.url}/dashboard/assets/uPlot.min.css`);
    assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');
    assert.equal((await fetch(`${fx.url}/dashboard/assets/app.js`)).status, 200);
    for (const path of [
      '/dashboard/assets/',
      '/dashboard/assets/../../package.json',
      '/dashboard/assets/%2e%2e%2fpackage.json',
      '/dashboard/assets/..%2F..%2Fpackage.json',
      '/dashboard/assets/nothing.js',
      '/dashboard/nothing',
    ]) {
      const res = await fetch(`${fx.url}${path}`);
      assert.equal(res.status, 404, path);
    }
    assert.equal((await fetch(`${fx.url}/dashboard/assets/app.js`, { method: 'POST' })).status, 405);
  });
});

describe('failed sign-ins are rate-limited per client address', () => {
  let fx: Fixture;
  before(async () => {
    fx = await startFixture();
  });
  after(() => fx.close());

  it('refuses the sixth try within a minute with 429 and Retry-After, even with the right key', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await signIn(fx.url, `wrong-${i}`)).status, 401);
    const blocked = await signIn(fx.url, ADMIN_KEY);
    assert.equal(blocked.status, 429);
    const retry = Number(blocked.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 60, String(retry));
    assert.match(await blocked.text(), /Too many failed sign-ins/);
    assert.equal(blocked.headers.get('set-cookie'), null);
    // Bearer keys on the API count against the same address.
    const api = await getJson(`${fx.url}/api/session`, ADMIN_KEY);
    assert.equal(api.status, 429);
    assert.equal(errorOf(api.body).code, 'TM_RATE_LIMITED');
  });
});
