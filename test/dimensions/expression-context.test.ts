// The expression context of issue #8: request.query, request.body, route.params, operation.id,
// subscription.metadata, request.user; `default:`; what is built per call (only what is read).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compileDimensionExpression,
  createDimensionEnvironment,
  createDimensionEvaluator,
  type DimensionContext,
} from '../../src/dimensions/custom-dimensions.js';
import { readBodyScalars, readQueryParameters } from '../../src/dimensions/request-fields.js';

function context(overrides: Partial<DimensionContext['request']> = {}): DimensionContext {
  return {
    request: {
      method: 'POST',
      path: '/azure/openai/deployments/gpt4o-prod/chat/completions',
      model: 'gpt4o-prod',
      headers: { 'x-team': 'blue', 'x-n': 'abc' },
      query: '?api-version=2024-10-21&tag=a&tag=b',
      body: {
        model: 'ignored',
        max_tokens: 100,
        temperature: 0.25,
        stream: false,
        seed: null,
        messages: [{ role: 'user', content: 'hi' }],
        metadata: { project: 'x' },
      },
      ip: '10.0.0.7',
      stream: false,
      user: 'alice',
      ...overrides,
    },
    subscription: { id: 'team-a', product: 'std', metadata: { team: 'payments', tier: 'gold' } },
    api: { id: 'azure' },
    operation: { id: 'chat.completions' },
    route: { params: { deployment: 'gpt4o-prod' } },
    backend: { id: 'aoai', type: 'azure-openai' },
  };
}

function evaluate(value: string, ctx: DimensionContext = context(), fallback?: string): string | undefined {
  const dims = createDimensionEvaluator([
    { name: 'd', value, ...(fallback !== undefined ? { default: fallback } : {}) },
  ]);
  return dims.evaluate(ctx).values['d'];
}

describe('expression context fields', () => {
  it('request.query: decoded parameters, repeated ones joined', () => {
    assert.equal(evaluate("request.query['api-version']"), '2024-10-21');
    assert.equal(evaluate("request.query['tag']"), 'a, b');
    assert.equal(evaluate("request.query['x']", context({ query: '?x=a%20b+c' })), 'a b c');
    assert.equal(evaluate('size(request.query)', context({ query: '' })), '0');
  });

  it('request.query never holds a credential parameter, whatever its spelling', () => {
    const query = '?key=K1&%24key=K2&API-KEY=K3&access_token=T&subscription-key=S&alt=sse';
    assert.deepEqual({ ...readQueryParameters(query) }, { alt: 'sse' });
    assert.equal(
      evaluate("request.query.size() == 1 && !('key' in request.query)", context({ query })),
      'true',
    );
  });

  it('request.body: top-level strings, booleans and numbers only (whole numbers are ints)', () => {
    assert.equal(evaluate('request.body.model'), 'ignored');
    assert.equal(evaluate('request.body.max_tokens + 1'), '101');
    assert.equal(evaluate("request.body.temperature > 0.2 ? 'warm' : 'cold'"), 'warm');
    assert.equal(evaluate('request.body.stream'), 'false');
    // Nested objects and arrays, and null, are not exposed: a missing key.
    for (const nested of ['request.body.messages', 'request.body.metadata', 'request.body.seed']) {
      assert.equal(evaluate(nested, context(), 'none'), 'none', nested);
    }
    assert.deepEqual(Object.keys(readBodyScalars(context().request.body)).sort(), [
      'max_tokens',
      'model',
      'stream',
      'temperature',
    ]);
    assert.deepEqual({ ...readBodyScalars([1, 2]) }, {});
    assert.deepEqual({ ...readBodyScalars('text') }, {});
    assert.deepEqual({ ...readBodyScalars(undefined) }, {});
  });

  it('request.body of a body whose field is named __proto__ is just a key', () => {
    const body = JSON.parse('{"__proto__": "p", "a": "b"}') as unknown;
    assert.equal(evaluate("request.body['__proto__']", context({ body })), 'p');
  });

  it('route.params, operation.id, subscription.metadata and request.user', () => {
    assert.equal(evaluate('route.params.deployment'), 'gpt4o-prod');
    assert.equal(evaluate('operation.id'), 'chat.completions');
    assert.equal(evaluate('subscription.metadata.team'), 'payments');
    assert.equal(evaluate("subscription.metadata.?region.orValue('eu')"), 'eu');
    assert.equal(evaluate('request.user'), 'alice');
    const bare: DimensionContext = { request: context().request, api: { id: 'openai' } };
    assert.equal(evaluate('route.params.model', bare, '-'), '-');
    assert.equal(evaluate('size(route.params)', bare), '0');
    assert.equal(evaluate('operation.id', bare), '');
    assert.equal(evaluate('size(subscription.metadata)', bare), '0');
  });
});

describe('default:', () => {
  it('is used when the expression yields "" and when a key is missing (not an error)', () => {
    const errors: string[] = [];
    const dims = createDimensionEvaluator(
      [
        { name: 'empty', value: "request.headers['x-empty']", default: 'none' },
        { name: 'missing', value: "request.headers['x-absent']", default: 'none' },
        { name: 'plain', value: "request.headers['x-team']", default: 'none' },
        { name: 'nodefault', value: "request.headers['x-absent']" },
      ],
      { onError: (name) => errors.push(name) },
    );
    const result = dims.evaluate(context({ headers: { 'x-empty': '', 'x-team': 'blue' } }));
    assert.deepEqual(result.values, { empty: 'none', missing: 'none', plain: 'blue', nodefault: '' });
    assert.deepEqual(result.defaulted, ['empty', 'missing', 'nodefault']);
    assert.equal(dims.errorCount, 0);
    assert.deepEqual(errors, []);
  });

  it('is used when the expression fails at run time; the failure is counted and reported', () => {
    const errors: [string, unknown][] = [];
    const dims = createDimensionEvaluator(
      [
        { name: 'n', value: "int(request.headers['x-n'])", default: 'nan' },
        { name: 'ratio', value: 'request.body.max_tokens / 0', default: 'inf' },
        { name: 'ok', value: 'operation.id' },
      ],
      { onError: (name, err) => errors.push([name, err]) },
    );
    const result = dims.evaluate(context());
    assert.deepEqual(result.values, { n: 'nan', ratio: 'inf', ok: 'chat.completions' });
    assert.deepEqual(result.defaulted, ['n', 'ratio']);
    assert.equal(dims.errorCount, 2);
    assert.deepEqual(
      errors.map(([name, err]) => [name, (err as { code?: unknown }).code]),
      [
        ['n', 'int_conversion_error'],
        ['ratio', 'division_by_zero'],
      ],
    );
  });
});

describe('only what expressions read is built per call', () => {
  it('finds the variables and request fields each configuration reads', () => {
    const uses = (...values: string[]) => {
      const dims = createDimensionEvaluator(values.map((value, i) => ({ name: `d${i}`, value })));
      return { variables: [...dims.uses.variables].sort(), fields: [...dims.uses.requestFields].sort() };
    };
    assert.deepEqual(uses('request.model', 'subscription.metadata.team'), {
      variables: ['request', 'subscription'],
      fields: ['model'],
    });
    assert.deepEqual(uses("request['body'].model"), { variables: ['request'], fields: ['body'] });
    assert.deepEqual(uses("has(request.query.x) ? 'y' : route.params.?m.orValue('')"), {
      variables: ['request', 'route'],
      fields: ['query'],
    });
    // `request` used whole: every field is built.
    assert.ok(uses('[request][0].model').fields.includes('body'));
    assert.deepEqual(uses(), { variables: [], fields: [] });
  });

  it('never reads the body when no expression reads request.body', () => {
    let reads = 0;
    const body = {
      model: 'm',
      get prompt(): string {
        reads += 1;
        return 'x'.repeat(10 * 1024 * 1024);
      },
    };
    const withoutBody = createDimensionEvaluator([
      { name: 'team', value: "request.headers['x-team']" },
      { name: 'q', value: "request.query.?tag.orValue('')" },
    ]);
    assert.deepEqual(withoutBody.evaluate(context({ body })).values, { team: 'blue', q: 'a, b' });
    assert.equal(reads, 0, 'the body was not walked');
    const withBody = createDimensionEvaluator([{ name: 'm', value: 'request.body.model' }]);
    assert.equal(withBody.evaluate(context({ body })).values['m'], 'm');
    assert.equal(reads, 1, 'the body was walked once, for request.body');
  });

  it('never parses the query when no expression reads request.query', () => {
    let splits = 0;
    const query = {
      startsWith: () => false,
      slice: () => '',
      split: () => {
        splits += 1;
        return [];
      },
    } as unknown as string;
    const dims = createDimensionEvaluator([{ name: 'op', value: 'operation.id' }]);
    dims.evaluate(context({ query }));
    assert.equal(splits, 0);
  });
});

describe('compile-time check of the new fields', () => {
  const env = createDimensionEnvironment();

  it('accepts every new field', () => {
    for (const expression of [
      "request.query['api-version']",
      'request.body.temperature',
      "request.body.?user.orValue('')",
      'route.params.deployment',
      'operation.id',
      'subscription.metadata.team',
      'request.user',
    ]) {
      assert.ok('compiled' in compileDimensionExpression(env, expression), expression);
    }
  });

  it('rejects misspelt ones', () => {
    for (const expression of [
      "request.querry['x']",
      'request.bodies.model',
      'route.param.deployment',
      'operation.name',
      'operations.id',
      'subscription.meta.team',
      'routes.params.model',
    ]) {
      const result = compileDimensionExpression(env, expression);
      assert.ok('error' in result, expression);
      assert.match(result.error, /^invalid CEL expression: /);
    }
  });
});
