import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { startDashboardServer, type DashboardServer } from '../../src/cli/dashboard-command.js';
import { createSessionStore, readSessionCookie } from '../../src/dashboard/sessions.js';
import {
  createSignInLimiter,
  SIGN_IN_FAILURES_PER_WINDOW,
  SIGN_IN_WINDOW_MS,
} from '../../src/dashboard/sign-in-limiter.js';
import { ADMIN_KEY, startFixture, type Fixture } from './api-fixture.js';

describe('sign-in limiter', () => {
  it('blocks an address after its failures in a window, others not, and forgets them after it', () => {
    let now = 1_000_000;
    const limiter = createSignInLimiter({ now: () => now });
    for (let i = 0; i < SIGN_IN_FAILURES_PER_WINDOW - 1; i++) limiter.fail('198.51.100.1');
    assert.equal(limiter.blockedFor('198.51.100.1'), undefined);
    limiter.fail('198.51.100.1');
    assert.equal(limiter.blockedFor('198.51.100.1'), SIGN_IN_WINDOW_MS / 1000);
    assert.equal(limiter.blockedFor('198.51.100.2'), undefined);
    now += SIGN_IN_WINDOW_MS - 1500;
    assert.equal(limiter.blockedFor('198.51.100.1'), 2);
    now += 1500;
    assert.equal(limiter.blockedFor('198.51.100.1'), undefined);
    limiter.fail('198.51.100.1');
    assert.equal(limiter.blockedFor('198.51.100.1'), undefined);
  });
});

describe('sessions', () => {
  it('end after their time to live and are bounded in number', () => {
    let now = 0;
    const sessions = createSessionStore({ now: () => now, ttlMs: 1000, max: 2 });
    const a = sessions.create('key-a');
    assert.notEqual(sessions.create('key-a'), a);
    assert.equal(sessions.get(a)?.key, 'key-a');
    now = 999;
    assert.ok(sessions.get(a) !== undefined);
    now = 1000;
    assert.equal(sessions.get(a), undefined);
    sessions.create('x');
    sessions.create('y');
    sessions.create('z');
    assert.equal(sessions.size, 2);
  });

  it('reads only the tm_session cookie', () => {
    assert.equal(readSessionCookie('a=1; tm_session=abc; b=2'), 'abc');
    assert.equal(readSessionCookie('xtm_session=abc'), undefined);
    assert.equal(readSessionCookie('tm_session='), undefined);
    assert.equal(readSessionCookie(undefined), undefined);
  });
});

describe('behind a trusted proxy, failed sign-ins count per forwarded client address', () => {
  let fx: Fixture;
  let server: DashboardServer;
  before(async () => {
    fx = await startFixture();
    const config = { ...fx.config, gateway: { ...fx.config.gateway, trustedProxies: ['127.0.0.1'] } };
    server = await startDashboardServer(config, {
      port: 0,
      host: '127.0.0.1',
      publicDir: join(fx.dir, 'public'),
      logger: pino({ level: 'silent' }),
    });
  });
  after(async () => {
    await server.close();
    await fx.close();
  });

  const signIn = (key: string, client: string): Promise<Response> =>
    fetch(`${server.url}/dashboard/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': client },
      body: `key=${encodeURIComponent(key)}`,
    });

  it('blocks the guessing client, not the next one', async () => {
    for (let i = 0; i < SIGN_IN_FAILURES_PER_WINDOW; i++)
      assert.equal((await signIn('nope', '203.0.113.7')).status, 401);
    assert.equal((await signIn(ADMIN_KEY, '203.0.113.7')).status, 429);
    assert.equal((await signIn(ADMIN_KEY, '203.0.113.8')).status, 303);
  });
});
