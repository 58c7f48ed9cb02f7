import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compileDimensionExpression,
  createDimensionEnvironment,
  createDimensionEvaluator,
  type DimensionContext,
} from '../../src/dimensions/custom-dimensions.js';
import { isTokenmeterError } from '../../src/errors.js';

function context(overrides: Partial<DimensionContext> = {}): DimensionContext {
  return {
    request: {
      method: 'POST',
      path: '/openai/v1/chat/completions',
      model: 'gpt-4o-mini',
      headers: { 'x-team': 'blue', 'x-multi': ['a', 'b'] },
      ip: '10.0.0.7',
      stream: true,
    },
    subscription: { id: 'team-a', product: 'standard', owner: 'lead@team-a.example', costCenter: 'CC-1001' },
    api: { id: 'openai' },
    backend: { id: 'primary', type: 'openai' },
    ...overrides,
  };
}

describe('createDimensionEvaluator', () => {
  it('evaluates CEL over request, subscription, api, backend and jwt', () => {
    const dims = createDimensionEvaluator([
      'API ID',
      { name: 'team', value: "request.headers['x-team']" },
      { name: 'multi', value: "request.headers['x-multi']" },
      { name: 'cc', value: 'subscription.costCenter' },
      { name: 'route', value: 'api.id + ":" + backend.type' },
      { name: 'streamed', value: 'request.stream' },
      { name: 'size', value: 'size(request.path)' },
      { name: 'appId', value: 'jwt.claims.appid' },
      { name: 'tier', value: "has(jwt.claims.tier) ? jwt.claims.tier : 'none'" },
    ]);
    assert.deepEqual(dims.names, ['team', 'multi', 'cc', 'route', 'streamed', 'size', 'appId', 'tier']);
    assert.deepEqual(dims.evaluate(context()).values, {
      team: 'blue',
      multi: 'a, b',
      cc: 'CC-1001',
      route: 'openai:openai',
      streamed: 'true',
      size: '27',
      appId: '',
      tier: 'none',
    });
    assert.equal(dims.errorCount, 0, 'a missing key is not an error');
    const withJwt = dims.evaluate(context({ jwt: { claims: { appid: 'app-42', tier: 'gold' } } })).values;
    assert.equal(withJwt.appId, 'app-42');
    assert.equal(withJwt.tier, 'gold');
  });

  it('reads missing parts of the context as empty strings', () => {
    const dims = createDimensionEvaluator([
      { name: 'cc', value: 'subscription.costCenter' },
      { name: 'team', value: "request.headers['x-team']" },
      { name: 'backend_type', value: 'backend.type' },
    ]);
    const ctx = context({ subscription: undefined, backend: undefined });
    ctx.request = { ...ctx.request, headers: {} };
    assert.deepEqual(dims.evaluate(ctx).values, { cc: '', team: '', backend_type: '' });
  });

  it('matches header names lower-cased', () => {
    const dims = createDimensionEvaluator([{ name: 'team', value: "request.headers['x-team']" }]);
    const ctx = context();
    ctx.request = { ...ctx.request, headers: { 'X-Team': 'red' } };
    assert.deepEqual(dims.evaluate(ctx).values, { team: 'red' });
  });

  it('never throws while recording: an evaluation error yields "" and is counted', () => {
    const errors: string[] = [];
    const dims = createDimensionEvaluator([{ name: 'n', value: 'int(request.model)' }], {
      onError: (name) => errors.push(name),
    });
    assert.deepEqual(dims.evaluate(context()).values, { n: '' });
    assert.equal(dims.errorCount, 1);
    assert.deepEqual(errors, ['n']);
  });

  it('leaves values whole: the caller caps them with the default dimensions (value-cap.ts)', () => {
    const dims = createDimensionEvaluator([{ name: 'long', value: 'request.model' }]);
    const ctx = context();
    ctx.request = { ...ctx.request, model: 'm'.repeat(3000) };
    assert.equal(dims.evaluate(ctx).values.long, 'm'.repeat(3000));
  });

  it('compiles each name once when several tokenMetrics list it', () => {
    const dims = createDimensionEvaluator([
      { name: 'team', value: "request.headers['x-team']" },
      { name: 'team', value: "request.headers['x-team']" },
    ]);
    assert.deepEqual(dims.names, ['team']);
  });

  it('refuses an expression that does not compile', () => {
    assert.throws(
      () => createDimensionEvaluator([{ name: 'bad', value: 'request.model +' }]),
      (err: unknown) => isTokenmeterError(err) && err.code === 'TM_CONFIG_INVALID',
    );
  });

  it('is cheap when there are no custom dimensions', () => {
    const dims = createDimensionEvaluator(['API ID', 'model']);
    assert.deepEqual(dims.names, []);
    assert.deepEqual(dims.evaluate(context()).values, {});
  });
});

describe('compileDimensionExpression', () => {
  const env = createDimensionEnvironment();

  it('reports syntax, unknown variable and unknown field errors in one line', () => {
    for (const expression of [
      'request.model +',
      'nope.field',
      'subscription.costCentre',
      'request.model == 1',
    ]) {
      const result = compileDimensionExpression(env, expression);
      assert.ok('error' in result, expression);
      assert.match(result.error, /^invalid CEL expression: /);
      assert.doesNotMatch(result.error, /\n/);
    }
  });

  it('accepts optional chaining', () => {
    const result = compileDimensionExpression(env, "jwt.claims.?appid.orValue('unknown')");
    assert.ok('compiled' in result);
  });
});
