import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { parseIpRange } from '../../src/config/ip-range.js';
import { configSchema } from '../../src/config/schema.js';
import { describeApiPathProblem, describeBackendUrlProblem } from '../../src/config/url-checks.js';
import { createClientIpResolver } from '../../src/gateway/client-ip.js';
import { issuesOf, MINIMAL, where, yamlLines } from './helpers.js';

describe('trusted proxy ranges: one parser for config validation and the IP resolver', () => {
  it('accepts addresses and CIDR blocks of both families', () => {
    assert.deepEqual(parseIpRange('10.0.0.0/8'), {
      range: { address: '10.0.0.0', prefix: 8, family: 'ipv4' },
    });
    assert.deepEqual(parseIpRange('192.168.1.1'), {
      range: { address: '192.168.1.1', prefix: 32, family: 'ipv4' },
    });
    assert.deepEqual(parseIpRange('fd00::/8'), { range: { address: 'fd00::', prefix: 8, family: 'ipv6' } });
    assert.deepEqual(parseIpRange('::1'), { range: { address: '::1', prefix: 128, family: 'ipv6' } });
    assert.deepEqual(parseIpRange('::ffff:10.0.0.0/104'), {
      range: { address: '10.0.0.0', prefix: 8, family: 'ipv4' },
    });
  });

  it('rejects everything else with a message', () => {
    for (const bad of [
      'proxy.internal',
      '10.0.0.0/33',
      '::/129',
      '10.0.0.0/',
      '10.0.0.0/8/8',
      '10.0.0.0/+8',
      '10.0.0.0/ 8',
      '10.0.0.1:80',
      '10.0.0',
      '',
      ' 10.0.0.1',
      '10.0.0.0/-1',
      '1e1',
    ]) {
      assert.ok('error' in parseIpRange(bad), bad);
    }
  });

  it('the resolver trusts exactly the parsed ranges, IPv4-mapped blocks included', () => {
    const ip = createClientIpResolver(['::ffff:10.0.0.0/104', '192.168.1.1']);
    const request = (peer: string, xff: string): IncomingMessage =>
      ({
        socket: { remoteAddress: peer },
        headers: { 'x-forwarded-for': xff },
      }) as unknown as IncomingMessage;
    assert.equal(ip.resolve(request('::ffff:10.9.8.7', '203.0.113.7')), '203.0.113.7');
    assert.equal(ip.resolve(request('10.9.8.7', '203.0.113.7')), '203.0.113.7');
    assert.equal(ip.resolve(request('192.168.1.2', '203.0.113.7')), '192.168.1.2');
    assert.throws(() => createClientIpResolver(['bogus']));
  });
});

describe('backend URLs and API paths', () => {
  it('backend url: http(s) only, no query, fragment or credentials', () => {
    for (const good of ['https://api.openai.com/v1', 'http://127.0.0.1:8000', 'https://x.example/a%20b/'])
      assert.equal(describeBackendUrlProblem(good), undefined, good);
    for (const bad of [
      'ftp://x/',
      'file:///etc/passwd',
      'api.example/v1',
      'https://x/?',
      'https://x/v1?a=1',
      'https://x/#',
      'https://x/#f',
      'https://u@x/',
      'https://u:p@x/',
      'javascript:alert(1)',
    ])
      assert.notEqual(describeBackendUrlProblem(bad), undefined, bad);
  });

  it('api path: request-path characters only, no dot segments', () => {
    for (const good of ['/', '/openai/v1', "/a-b_c.d~e!$&'()*+,;=:@", '/%41', '/a/.well-known'])
      assert.equal(describeApiPathProblem(good), undefined, good);
    for (const bad of [
      'openai',
      '/a b',
      '/a\tb',
      '/a\u0000',
      '/a"b',
      '/a<b>',
      '/a\\b',
      '/a^b',
      '/a`b',
      '/a{b}',
      '/a|b',
      '/é',
      '/%',
      '/%4',
      '/%zz',
      '/a?x',
      '/a#x',
      '/.',
      '/a/..',
      '/./a',
    ])
      assert.notEqual(describeApiPathProblem(bad), undefined, JSON.stringify(bad));
  });
});

describe('client timeouts', () => {
  const base = {
    backends: [{ id: 'b', type: 'openai', url: 'http://127.0.0.1:9/v1' }],
    apis: [{ id: 'a', path: '/a', type: 'openai', backend: 'b' }],
  };

  it('headersTimeoutMs defaults to 10 s, or to requestTimeoutMs when that is shorter', () => {
    assert.equal(configSchema.parse(base).gateway.headersTimeoutMs, 10_000);
    assert.equal(
      configSchema.parse({ ...base, gateway: { requestTimeoutMs: 4000 } }).gateway.headersTimeoutMs,
      4000,
    );
    assert.equal(
      configSchema.parse({ ...base, gateway: { requestTimeoutMs: 4000, headersTimeoutMs: 4000 } }).gateway
        .headersTimeoutMs,
      4000,
    );
  });

  it('an explicit headersTimeoutMs above requestTimeoutMs, or a timer Node cannot hold, is an issue with its line', () => {
    const lines = [
      ...MINIMAL,
      'gateway:',
      '  requestTimeoutMs: 1000',
      '  headersTimeoutMs: 1001',
      '  upstreamTimeoutMs: 2147483648',
    ];
    assert.deepEqual(where(issuesOf(yamlLines(...lines))), [
      [19, 'gateway.headersTimeoutMs'],
      [20, 'gateway.upstreamTimeoutMs'],
    ]);
  });
});
