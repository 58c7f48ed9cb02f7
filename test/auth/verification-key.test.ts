import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { describePublicKeyProblem, loadVerificationKey } from '../../src/auth/verification-key.js';
import { parseConfig } from '../../src/config/load-config.js';
import { issuesOf, MINIMAL, where, yamlLines } from '../config/helpers.js';
import { CERT, KEY } from '../helpers/test-tls.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const spki = (key: typeof rsa.publicKey): string => key.export({ type: 'spki', format: 'pem' }).toString();

describe('publicKey loading', () => {
  it('reads a PEM SPKI RSA key: RS* and PS* fit it', () => {
    const loaded = loadVerificationKey(spki(rsa.publicKey));
    assert.deepEqual(loaded.algorithms, ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']);
  });

  it('reads a PKCS#1 RSA public key and a PEM certificate', () => {
    const pkcs1 = rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    assert.equal(loadVerificationKey(pkcs1).key.asymmetricKeyType, 'rsa');
    assert.deepEqual(loadVerificationKey(CERT).algorithms, ['ES256']);
  });

  it('picks the one ES algorithm of each curve, and EdDSA for Ed25519', () => {
    for (const [namedCurve, alg] of [
      ['P-256', 'ES256'],
      ['P-384', 'ES384'],
      ['P-521', 'ES512'],
    ] as const) {
      const { publicKey } = generateKeyPairSync('ec', { namedCurve });
      assert.deepEqual(loadVerificationKey(spki(publicKey)).algorithms, [alg]);
    }
    const ed = generateKeyPairSync('ed25519');
    assert.deepEqual(loadVerificationKey(spki(ed.publicKey)).algorithms, ['EdDSA', 'Ed25519']);
  });

  it('reads a JWK as JSON and honours its alg', () => {
    const jwk = rsa.publicKey.export({ format: 'jwk' });
    assert.equal(loadVerificationKey(JSON.stringify(jwk)).algorithms.length, 6);
    assert.deepEqual(loadVerificationKey(JSON.stringify({ ...jwk, alg: 'PS256' })).algorithms, ['PS256']);
    assert.match(describePublicKeyProblem(JSON.stringify({ ...jwk, alg: 'ES256' })) ?? '', /does not fit/);
    assert.match(describePublicKeyProblem(JSON.stringify({ ...jwk, alg: 'HS256' })) ?? '', /does not fit/);
  });

  it('refuses private keys, symmetric keys, key sets and text that is no key', () => {
    const problems = [
      KEY,
      rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      JSON.stringify(rsa.privateKey.export({ format: 'jwk' })),
      JSON.stringify({ kty: 'oct', k: 'c2VjcmV0' }),
      JSON.stringify({ keys: [rsa.publicKey.export({ format: 'jwk' })] }),
      '{ not json',
      'ssh-rsa AAAAB3NzaC1yc2E',
      '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----',
      '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----',
    ].map(describePublicKeyProblem);
    problems.forEach((problem, i) => assert.ok(problem !== undefined, `case ${i} must be refused`));
    // The messages describe; they never repeat key material.
    for (const problem of problems) assert.doesNotMatch(problem ?? '', /MIG|AAAA|c2VjcmV0/);
  });
});

describe('config check of apis[].auth.jwt.publicKey', () => {
  it('reports a publicKey that does not load at its path and line', () => {
    const lines = [
      ...MINIMAL.slice(0, 9), //               1..9
      '    auth:', //                          10
      '      jwt:', //                         11
      '        issuer: https://login.microsoftonline.com/t/v2.0', // 12
      '        audience: api://tm', //         13
      '        publicKey: not-a-key', //       14
      ...MINIMAL.slice(9), //                  15..21
    ];
    const issues = issuesOf(yamlLines(...lines));
    assert.deepEqual(where(issues), [[14, 'apis[0].auth.jwt.publicKey']]);
  });

  it('accepts a PEM public key written as a YAML block', () => {
    const pem = spki(rsa.publicKey).trimEnd().split('\n');
    const lines = [
      ...MINIMAL.slice(0, 9),
      '    auth:',
      '      jwt:',
      '        issuer: https://login.microsoftonline.com/t/v2.0',
      '        audience: api://tm',
      '        publicKey: |',
      ...pem.map((line) => `          ${line}`),
      ...MINIMAL.slice(9),
    ];
    const config = parseConfig(yamlLines(...lines), 'tm.yaml', {});
    assert.equal(config.apis[0]?.auth?.jwt?.publicKey, spki(rsa.publicKey));
  });
});
