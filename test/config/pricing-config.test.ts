import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/load-config.js';
import { issuesOf, MINIMAL, where, yamlLines } from './helpers.js';

/** `pricing` and `backends[].deployments`: bad input is reported with its file, line and path. */

describe('pricing configuration', () => {
  it('accepts overrides, dates, multipliers and deployments', () => {
    const config = parseConfig(
      yamlLines(
        ...MINIMAL,
        'pricing:',
        '  currency: EUR',
        '  overrides:',
        '    - { model: house-model, input: 1.0, output: 2.0, cachedInput: 0.5, cacheWrite: 1.25 }',
        '    - { model: house-model, input: 0.8, output: 1.6, from: 2026-01-01 }',
        '  subscriptions:',
        '    team-a: { multiplier: 0.9 }',
      ).replace(
        '    url: https://api.openai.com/v1',
        '    url: https://api.openai.com/v1\n    deployments: { d1: gpt-4o }',
      ),
      'tm.yaml',
      {},
    );
    assert.equal(config.pricing.currency, 'EUR');
    assert.equal(config.pricing.overrides[1]?.from, '2026-01-01');
    assert.equal(config.pricing.subscriptions['team-a']?.multiplier, 0.9);
    assert.deepEqual(config.backends[0]?.deployments, { d1: 'gpt-4o' });
  });

  it('defaults to USD with no overrides', () => {
    const config = parseConfig(yamlLines(...MINIMAL), 'tm.yaml', {});
    assert.deepEqual(config.pricing, { currency: 'USD', overrides: [], subscriptions: {} });
  });

  it('reports each malformed price, bad date and unknown subscription at its line', () => {
    const issues = issuesOf(
      yamlLines(
        ...MINIMAL, //                                                    1..16
        'pricing:', //                                                    17
        '  overrides:', //                                                18
        '    - model: a', //                                              19
        '      input: -1', //                                             20
        '      output: 2', //                                             21
        '    - model: b', //                                              22
        '      input: cheap', //                                          23
        '      output: 2', //                                             24
        '    - model: c', //                                              25
        '      input: 1', //                                              26
        '      output: 2', //                                             27
        '      from: 2026-02-30', //                                      28
        '    - model: d', //                                              29
        '      input: 1', //                                              30
        '      output: 2', //                                             31
        '      cachedInput: .nan', //                                     32
      ),
    );
    assert.deepEqual(where(issues), [
      [20, 'pricing.overrides[0].input'],
      [23, 'pricing.overrides[1].input'],
      [28, 'pricing.overrides[2].from'],
      [32, 'pricing.overrides[3].cachedInput'],
    ]);
    for (const issue of issues) assert.equal(issue.file, 'tm.yaml');
  });

  it('refuses a multiplier for an unknown subscription, a negative one, and duplicate (model, from)', () => {
    const issues = issuesOf(
      yamlLines(
        ...MINIMAL, //                                                    1..16
        'pricing:', //                                                    17
        '  overrides:', //                                                18
        '    - { model: m, input: 1, output: 1 }', //                      19
        '    - { model: m, input: 2, output: 2 }', //                      20
        '    - { model: m, input: 1, output: 1, from: 2026-01-01 }', //    21
        '    - { model: m, input: 3, output: 3, from: "2026-01-01T00:00:00Z" }', // 22: same instant
        '    - { model: n, input: 3, output: 3, from: 2026-01-01 }', //    23: another model: fine
        '  subscriptions:', //                                            24
        '    team-z: { multiplier: 0.5 }', //                             25
        '    team-a: { multiplier: 0.5 }', //                             26: fine
      ),
    );
    assert.deepEqual(where(issues), [
      [20, 'pricing.overrides[1].model'],
      [22, 'pricing.overrides[3].from'],
      [25, 'pricing.subscriptions.team-z'],
    ]);
    const negative = issuesOf(
      yamlLines(...MINIMAL, 'pricing:', '  subscriptions:', '    team-a: { multiplier: -0.1 }'),
    );
    assert.deepEqual(where(negative), [[19, 'pricing.subscriptions.team-a.multiplier']]);
  });

  it('refuses a bad currency and an empty deployment model', () => {
    const issues = issuesOf(
      yamlLines(...MINIMAL, 'pricing:', '  currency: dollars').replace(
        '    url: https://api.openai.com/v1',
        '    url: https://api.openai.com/v1\n    deployments: { d1: "" }',
      ),
    );
    assert.deepEqual(where(issues), [
      [5, 'backends[0].deployments.d1'],
      [19, 'pricing.currency'],
    ]);
  });
});
