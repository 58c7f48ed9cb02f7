import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { coerceInterpolatedScalar, interpolateString } from '../../src/config/interpolate.js';

describe('interpolateString', () => {
  const env = { HOST: 'example.org', EMPTY: '', PORT: '9090' };

  it('replaces ${VAR} and keeps the surrounding text', () => {
    assert.deepEqual(interpolateString('https://${HOST}:${PORT}/v1', env), {
      value: 'https://example.org:9090/v1',
    });
  });

  it('uses the default when the variable is unset or empty, the value otherwise', () => {
    assert.deepEqual(interpolateString('${NOPE:-fallback}', env), { value: 'fallback' });
    assert.deepEqual(interpolateString('${EMPTY:-fallback}', env), { value: 'fallback' });
    assert.deepEqual(interpolateString('${HOST:-fallback}', env), { value: 'example.org' });
    assert.deepEqual(interpolateString('${NOPE:-}', env), { value: '' });
    assert.deepEqual(interpolateString('${NOPE:-a:b/c d}', env), { value: 'a:b/c d' });
  });

  it('accepts a set but empty variable without default', () => {
    assert.deepEqual(interpolateString('x${EMPTY}y', env), { value: 'xy' });
  });

  it('names an unset variable', () => {
    assert.deepEqual(interpolateString('key-${TEAM_KEY}', env), {
      error: 'environment variable TEAM_KEY is not set',
    });
  });

  it('treats $${ as a literal ${ and does not interpolate what follows', () => {
    assert.deepEqual(interpolateString('$${HOST} and ${HOST}', env), { value: '${HOST} and example.org' });
    assert.deepEqual(interpolateString('cost $5 and $HOST', env), { value: 'cost $5 and $HOST' });
  });

  it('rejects malformed references', () => {
    assert.match(errorOf(interpolateString('${1BAD}', env)), /invalid interpolation/);
    assert.match(errorOf(interpolateString('${HOST', env)), /unclosed/);
    assert.match(errorOf(interpolateString('${A:-${B}}', env)), /nested/);
  });
});

describe('coerceInterpolatedScalar', () => {
  it('reads numbers and booleans like YAML plain scalars', () => {
    assert.equal(coerceInterpolatedScalar('8080', 'number'), 8080);
    assert.equal(coerceInterpolatedScalar('-1.5e3', 'number'), -1500);
    assert.equal(coerceInterpolatedScalar('true', 'boolean'), true);
    assert.equal(coerceInterpolatedScalar('FALSE', 'boolean'), false);
    assert.equal(coerceInterpolatedScalar('80a', 'number'), undefined);
    assert.equal(coerceInterpolatedScalar('yes', 'boolean'), undefined);
  });
});

function errorOf(result: { value: string } | { error: string }): string {
  assert.ok('error' in result, 'expected an error');
  return result.error;
}
