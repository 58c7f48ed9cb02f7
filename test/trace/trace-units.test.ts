// The parts of call tracing that need no server: the ring, the claims read by expressions, the
// trace's JSON for callers the in-process gateway test cannot produce yet (managed keys, JWTs),
// and the admin key comparison.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createAdminKey } from '../../src/admin/admin-key.js';
import type { Caller } from '../../src/auth/caller.js';
import { TokenmeterError } from '../../src/errors.js';
import type { ResolvedDimensions } from '../../src/gateway/call-dimensions.js';
import type { UsageRecord } from '../../src/ledger/record.js';
import { CallTrace } from '../../src/trace/call-trace.js';
import { claimsReadBy } from '../../src/trace/claims-read.js';
import { createTraceRing } from '../../src/trace/trace-ring.js';

describe('trace ring', () => {
  test('keeps the last items by id and evicts the oldest first', () => {
    const ring = createTraceRing<number>(3);
    for (let i = 0; i < 5; i++) ring.add(`t${i}`, i);
    assert.equal(ring.size, 3);
    assert.deepEqual(
      ['t0', 't1', 't2', 't3', 't4'].map((id) => ring.get(id)),
      [undefined, undefined, 2, 3, 4],
    );
  });

  test('stays bounded under many adds', () => {
    const ring = createTraceRing<number>(1000);
    for (let i = 0; i < 50_000; i++) ring.add(String(i), i);
    assert.equal(ring.size, 1000);
    assert.equal(ring.get('48999'), undefined);
    assert.equal(ring.get('49000'), 49000);
  });

  test('refuses a capacity that is not a positive integer', () => {
    for (const capacity of [0, -1, 1.5, Number.NaN])
      assert.throws(() => createTraceRing(capacity), RangeError);
  });
});

describe('claims read by custom dimension expressions', () => {
  test('dot, optional and index access, each claim once in order of appearance', () => {
    assert.deepEqual(
      claimsReadBy([
        'jwt.claims.appid',
        'has(jwt.claims.tid) ? jwt.claims["tid"] : jwt.claims . ?azp',
        "jwt.claims['app-roles'] + subscription.id",
        'jwt.claims.appid',
      ]),
      ['appid', 'tid', 'azp', 'app-roles'],
    );
  });

  test('expressions that read no named claim list none', () => {
    assert.deepEqual(claimsReadBy(['request.model', 'size(jwt.claims)', 'myjwt.claims.x', '']), []);
  });
});

const RESOLVED: ResolvedDimensions = {
  dimensions: {
    api: 'openai',
    operation: 'chat.completions',
    subscription: 'team-a',
    user: 'u-1',
    stream: false,
  },
  custom: { appId: 'app-42' },
  flags: [],
  sources: {
    api: 'config',
    operation: 'config',
    subscription: 'managed-key:k_1',
    user: 'jwt:oid',
    stream: 'body:stream',
    appId: 'cel',
  },
};

function jwtCaller(): Caller {
  return {
    subscription: { id: 'team-a', product: 'std', metadata: { tier: 'gold' } },
    credential: { kind: 'managed-key', keyId: 'k_1' },
    jwt: {
      claims: {
        iss: 'https://login.example/tenant/v2.0',
        oid: 'u-1',
        appid: 'app-42',
        secretish: 'x',
        exp: 1,
      },
      keyId: 'kid-7',
      userClaim: 'oid',
      user: 'u-1',
    },
  };
}

describe('call trace JSON', () => {
  test('a JWT caller: issuer, kid, the userClaim and the claims dimensions read, nothing else', () => {
    const trace = new CallTrace('id-1', 0, 'POST', '/openai/v1/chat/completions?key=abc', [
      'appid',
      'absent',
    ]);
    trace.routed('openai');
    trace.identified(jwtCaller());
    trace.operation('chat.completions', true);
    trace.forwarding({ id: 'oai', type: 'openai' }, '/v1/chat/completions?x=1', false);
    trace.dimensions(RESOLVED);
    const json = trace.toJSON();
    assert.equal(json.state, 'in-progress');
    assert.deepEqual(json.request, { method: 'POST', path: '/openai/v1/chat/completions' });
    assert.deepEqual(json.caller, {
      credential: { kind: 'managed-key', keyId: 'k_1' },
      jwt: {
        issuer: 'https://login.example/tenant/v2.0',
        kid: 'kid-7',
        userClaim: 'oid',
        user: 'u-1',
        claimsUsed: { oid: 'u-1', appid: 'app-42' },
      },
    });
    assert.deepEqual(json.subscription, { id: 'team-a', metadata: { tier: 'gold' } });
    assert.equal(json.product, 'std');
    assert.deepEqual(json.dimensions?.subscription, { value: 'team-a', source: 'managed-key:k_1' });
    assert.deepEqual(json.dimensions?.user, { value: 'u-1', source: 'jwt:oid' });
    assert.deepEqual(json.custom, { appId: { value: 'app-42', source: 'cel' } });
    assert.equal(json.backend?.upstreamPath, '/v1/chat/completions');
    assert.equal(json.record, null);
    assert.deepEqual(json.usage, { streamUsageInjected: false, usageAnswerStripped: false });
  });

  test('the committed record completes it, with its source, flags and answering model', () => {
    const trace = new CallTrace('id-2', 0, 'POST', '/openai/v1/chat/completions', []);
    trace.identified(jwtCaller());
    trace.forwarding({ id: 'oai', type: 'openai' }, '/v1/chat/completions', true);
    trace.dimensions(RESOLVED);
    const record: UsageRecord = {
      id: 'rec-1',
      time: 0,
      api: 'openai',
      operation: 'chat.completions',
      stream: true,
      responseModel: 'gpt-4o-2024-08-06',
      custom: {},
      source: 'estimated',
      status: 200,
      latencyMs: 1,
      flags: ['usage_unreadable'],
    };
    trace.recorded(record);
    const json = trace.toJSON();
    assert.equal(json.state, 'completed');
    assert.equal(json.record?.id, 'rec-1');
    assert.deepEqual(json.usage, {
      streamUsageInjected: true,
      usageAnswerStripped: true,
      source: 'estimated',
      flags: ['usage_unreadable'],
    });
    assert.deepEqual(json.dimensions?.responseModel, { value: 'gpt-4o-2024-08-06', source: 'answer' });
  });

  test('a refusal names the stage reached and the code; an error outside the catalogue is TM_INTERNAL', () => {
    const refused = new CallTrace('id-3', 0, 'POST', '/x', []);
    refused.reach('authenticate');
    refused.refuse(new TokenmeterError('TM_FORBIDDEN', 'no access'));
    assert.equal(refused.state, 'refused');
    assert.deepEqual(refused.toJSON().refused, {
      stage: 'authenticate',
      status: 403,
      code: 'TM_FORBIDDEN',
      message: 'no access',
    });
    const crashed = new CallTrace('id-4', 0, 'POST', '/x', []);
    crashed.reach('dimensions');
    crashed.refuse(new Error('boom with a detail'));
    assert.deepEqual(crashed.toJSON().refused, {
      stage: 'dimensions',
      status: 500,
      code: 'TM_INTERNAL',
      message: 'Internal gateway error.',
    });
  });

  test('an unmetered call is completed when it ends, without a record', () => {
    const trace = new CallTrace('id-5', 0, 'POST', '/x', []);
    trace.operation('count_tokens', false);
    assert.equal(trace.state, 'in-progress');
    trace.end();
    assert.equal(trace.state, 'completed');
    assert.equal(trace.toJSON().record, null);
  });
});

describe('admin key', () => {
  test('matches only the configured key, never when none is configured', () => {
    const key = createAdminKey('admin-key-123');
    assert.equal(key.configured, true);
    assert.equal(key.matches('admin-key-123'), true);
    for (const other of ['admin-key-12', 'admin-key-1234', '', undefined, 'ADMIN-KEY-123'])
      assert.equal(key.matches(other), false, String(other));
    const none = createAdminKey(undefined);
    assert.equal(none.configured, false);
    for (const other of ['', 'undefined', undefined]) assert.equal(none.matches(other), false);
  });
});
