// The header policy in isolation (the wire-level checks are in what-reaches-the-backend.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  clientResponseHeaders,
  createHeaderPolicy,
  upstreamRequestHeaders,
} from '../../src/gateway/headers.js';

const AUTH = { header: 'authorization', value: 'Bearer sk-backend' };

test('forwardHeaders cannot forward hop-by-hop, credential or gateway-set headers; dropHeaders wins', () => {
  const policy = createHeaderPolicy(
    [' Cookie ', 'AUTHORIZATION', 'x-api-key', 'Upgrade', 'Host', 'Accept-Encoding', 'x-both'],
    ['X-Both', 'User-Agent'],
  );
  const out = upstreamRequestHeaders(
    {
      cookie: 'a=1',
      authorization: 'Bearer client-key',
      'x-api-key': 'client-key',
      upgrade: 'h2c',
      host: 'gateway.example',
      'accept-encoding': 'gzip',
      'x-both': '1',
      'user-agent': 'sdk',
      'x-forwarded-proto': 'https',
      'x-forwarded-anything': 'x',
    },
    'backend.example',
    12,
    AUTH,
    policy,
  );
  assert.deepEqual(out, {
    cookie: 'a=1',
    host: 'backend.example',
    'content-length': '12',
    'accept-encoding': 'identity',
    authorization: 'Bearer sk-backend',
  });
});

test('every header the Connection header names is dropped, whatever its case and spacing', () => {
  const out = upstreamRequestHeaders(
    { connection: 'close, X-A, x-b ,,X-C', 'x-a': '1', 'x-b': '2', 'x-c': '3', 'x-d': '4' },
    'h',
    0,
    undefined,
  );
  assert.deepEqual(Object.keys(out).sort(), ['accept-encoding', 'content-length', 'host', 'x-d']);
});

test('response: hop-by-hop, nominated, cookies, account ids and alt-svc dropped; length as asked', () => {
  const upstream = {
    connection: 'keep-alive, x-hop',
    'x-hop': '1',
    'keep-alive': 'timeout=5',
    'transfer-encoding': 'chunked',
    'content-length': '10',
    'set-cookie': ['a=1', 'b=2'],
    'openai-organization': 'org-1',
    'openai-project': 'proj-1',
    'anthropic-organization-id': 'uuid',
    'alt-svc': 'h3=":443"',
    'x-request-id': 'r',
    'content-type': 'application/json',
  };
  assert.deepEqual(clientResponseHeaders(upstream, true), {
    'content-length': '10',
    'x-request-id': 'r',
    'content-type': 'application/json',
  });
  assert.deepEqual(clientResponseHeaders(upstream, false), {
    'x-request-id': 'r',
    'content-type': 'application/json',
  });
});

test('x-tokenmeter-* headers are the gateway own: never forwarded, never taken from an upstream answer', () => {
  const policy = createHeaderPolicy(['X-Tokenmeter-Trace', 'x-tokenmeter-anything']);
  assert.equal(policy.forward.size, 0);
  const out = upstreamRequestHeaders(
    { 'x-tokenmeter-trace': 'admin-key', 'x-tokenmeter-anything': '1', 'x-tokenmeterish': 'kept' },
    'backend.example',
    0,
    undefined,
    policy,
  );
  assert.deepEqual(out, {
    'x-tokenmeterish': 'kept',
    host: 'backend.example',
    'content-length': '0',
    'accept-encoding': 'identity',
  });
  assert.deepEqual(clientResponseHeaders({ 'x-tokenmeter-trace-id': 'forged', 'x-request-id': 'r1' }, true), {
    'x-request-id': 'r1',
  });
});
