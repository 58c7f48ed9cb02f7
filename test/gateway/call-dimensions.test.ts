// The "compute dimensions" stage: the User ID's order of sources, and where every value came from.
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import type { Caller } from '../../src/auth/caller.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { createDimensionEvaluator } from '../../src/dimensions/custom-dimensions.js';
import { MAX_LEDGER_VALUE_CHARS } from '../../src/dimensions/value-cap.js';
import type { Backend } from '../../src/gateway/backends.js';
import { resolveCallDimensions, type CallFacts } from '../../src/gateway/call-dimensions.js';
import { createClientIpResolver } from '../../src/gateway/client-ip.js';
import type { RequestInfo } from '../../src/providers/types.js';

const config = configSchema.parse({
  backends: [{ id: 'aoai', type: 'azure-openai', url: 'http://127.0.0.1:9' }],
  apis: [{ id: 'azure', path: '/azure', type: 'azure-openai', backend: 'aoai' }],
});

const JWT = { claims: { oid: 'oid-1', appid: 'app-7' }, userClaim: 'oid', user: 'oid-1' };

function facts(
  options: {
    headers?: Record<string, string>;
    peer?: string;
    jwt?: Caller['jwt'];
    info?: Partial<RequestInfo>;
    users?: Config['users'];
    trustedProxies?: string[];
    dimensions?: Parameters<typeof createDimensionEvaluator>[0];
  } = {},
): CallFacts {
  const req = {
    method: 'POST',
    headers: options.headers ?? {},
    socket: { remoteAddress: options.peer ?? '127.0.0.1' },
  } as unknown as IncomingMessage;
  const url = '/azure/openai/deployments/prod/chat/completions?api-version=1&key=SECRET';
  return {
    req,
    url,
    query: '?api-version=1',
    body: { model: 'x', user: 'body-user' },
    api: config.apis[0] ?? assert.fail(),
    route: {
      operation: 'chat.completions',
      metered: true,
      pathModel: 'prod',
      params: { deployment: 'prod' },
      upstreamPath: '/openai/deployments/prod/chat/completions?api-version=1',
    },
    info: { model: 'prod', stream: false, clientWantsStreamUsage: false, ...options.info },
    caller: {
      subscription: { id: 'team-a', product: 'std', metadata: { team: 'payments' } },
      credential: { kind: 'managed-key', keyId: 'k-1' },
      ...(options.jwt !== undefined ? { jwt: options.jwt } : {}),
    },
    backend: { id: 'aoai', type: 'azure-openai' } as unknown as Backend,
    gateway: config.gateway,
    users: options.users ?? {},
    clientIp: createClientIpResolver(options.trustedProxies ?? []),
    customDimensions: createDimensionEvaluator(options.dimensions ?? []),
  };
}

describe('User ID', () => {
  const body: Partial<RequestInfo> = { user: 'body-user', userField: 'user' };
  const header = { 'x-user-id': 'header-user' };
  const users = { header: 'x-user-id' };

  it('takes the JWT userClaim first, then users.header, then the body, else none', () => {
    const cases: [CallFacts, string | undefined, string | undefined][] = [
      [facts({ jwt: JWT, headers: header, users, info: body }), 'oid-1', 'jwt:oid'],
      [facts({ headers: header, users, info: body }), 'header-user', 'header:x-user-id'],
      [facts({ headers: header, info: body }), 'body-user', 'body:user'],
      [facts({ info: { user: 'u-9', userField: 'metadata.user_id' } }), 'u-9', 'body:metadata.user_id'],
      [facts({ headers: header }), undefined, undefined],
    ];
    for (const [call, user, source] of cases) {
      const resolved = resolveCallDimensions(call);
      assert.equal(resolved.dimensions.user, user);
      assert.equal(resolved.sources['user'], source);
    }
  });

  it('skips a source that is present but empty', () => {
    const emptyJwt = { claims: { oid: '' }, userClaim: 'oid', user: '' };
    const call = facts({ jwt: emptyJwt, headers: { 'x-user-id': '' }, users, info: body });
    assert.equal(resolveCallDimensions(call).sources['user'], 'body:user');
    // A verified JWT without the configured claim does not hide the next source either.
    const noClaim = { claims: { sub: 's' }, userClaim: 'oid' };
    assert.equal(
      resolveCallDimensions(facts({ jwt: noClaim, headers: header, users })).dimensions.user,
      'header-user',
    );
  });

  it('is request.user in expressions', () => {
    const call = facts({ jwt: JWT, info: body, dimensions: [{ name: 'who', value: 'request.user' }] });
    assert.equal(resolveCallDimensions(call).custom['who'], 'oid-1');
  });

  it('caps a users.header value like any dimension and flags the record', () => {
    const long = 'u'.repeat(MAX_LEDGER_VALUE_CHARS + 500);
    const resolved = resolveCallDimensions(facts({ headers: { 'x-user-id': long }, users }));
    assert.equal(resolved.dimensions.user?.length, MAX_LEDGER_VALUE_CHARS);
    assert.match(resolved.dimensions.user ?? '', /…\[\+\d+ chars\]$/);
    assert.deepEqual(resolved.flags, ['dimension_truncated']);
  });
});

describe('sources', () => {
  it('says where each value came from', () => {
    const resolved = resolveCallDimensions(
      facts({
        dimensions: [
          { name: 'dep', value: 'route.params.deployment' },
          { name: 'team', value: "request.headers['x-team']", default: 'none' },
        ],
      }),
    );
    assert.deepEqual(resolved.sources, {
      api: 'config',
      operation: 'config',
      product: 'managed-key:k-1',
      subscription: 'managed-key:k-1',
      location: 'config',
      gateway: 'config',
      backend: 'config',
      provider: 'config',
      stream: 'body:stream',
      ip: 'peer',
      model: 'path',
      dep: 'cel',
      team: 'default',
    });
    assert.deepEqual(resolved.custom, { dep: 'prod', team: 'none' });
  });

  it('ip: a spoofed X-Forwarded-For from an untrusted peer is ignored', () => {
    const spoofed = { 'x-forwarded-for': '203.0.113.66' };
    const untrusted = resolveCallDimensions(
      facts({ headers: spoofed, peer: '198.51.100.9', trustedProxies: ['10.0.0.0/8'] }),
    );
    assert.equal(untrusted.dimensions.ip, '198.51.100.9');
    assert.equal(untrusted.sources['ip'], 'peer');
    const trusted = resolveCallDimensions(
      facts({ headers: spoofed, peer: '10.1.2.3', trustedProxies: ['10.0.0.0/8'] }),
    );
    assert.equal(trusted.dimensions.ip, '203.0.113.66');
    assert.equal(trusted.sources['ip'], 'x-forwarded-for');
  });

  it('expressions see the operation, route parameters, metadata and the query without credentials', () => {
    const resolved = resolveCallDimensions(
      facts({
        dimensions: [
          { name: 'op', value: 'operation.id' },
          { name: 'team', value: 'subscription.metadata.team' },
          { name: 'q', value: "request.query['api-version'] + ('key' in request.query ? '!' : '')" },
          { name: 'path', value: 'request.path' },
          { name: 'bodyUser', value: 'request.body.user' },
        ],
      }),
    );
    assert.deepEqual(resolved.custom, {
      op: 'chat.completions',
      team: 'payments',
      q: '1',
      path: '/azure/openai/deployments/prod/chat/completions',
      bodyUser: 'body-user',
    });
  });
});
