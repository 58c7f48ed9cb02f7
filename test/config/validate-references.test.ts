import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/load-config.js';
import { issuesOf, MINIMAL, where, yamlLines } from './helpers.js';

describe('cross-reference checks', () => {
  it('reports unknown backend, api and product references at their lines', () => {
    const lines: string[] = [...MINIMAL];
    lines[8] = '    backend: secondary'; //          9
    lines[11] = '    apis: [openai, gemini]'; //      12
    lines[15] = '    product: premium'; //            16
    const issues = issuesOf(yamlLines(...lines));
    assert.deepEqual(where(issues), [
      [9, 'apis[0].backend'],
      [12, 'products[0].apis[1]'],
      [16, 'subscriptions[0].product'],
    ]);
    assert.equal(issues[0]?.message, 'unknown backend "secondary"');
    assert.equal(issues[1]?.message, 'unknown api "gemini"');
    assert.equal(issues[2]?.message, 'unknown product "premium"');
  });

  it('reports duplicate ids in each section', () => {
    const lines = [
      ...MINIMAL.slice(0, 4),
      '  - id: primary', //                  5
      '    type: simulator', //              6
      ...MINIMAL.slice(4, 16), //            7..18
      '  - id: team-a', //                   19
      '    key: other-secret', //            20
      '    product: standard', //            21
    ];
    const issues = issuesOf(yamlLines(...lines));
    assert.deepEqual(where(issues), [
      [5, 'backends[1].id'],
      [19, 'subscriptions[1].id'],
    ]);
    assert.match(issues[0]?.message ?? '', /duplicate id "primary"/);
  });

  it('rejects a subscription key used twice or equal to the admin key, without printing it', () => {
    const lines = [
      'admin:', //                           1
      '  key: team-a-secret', //             2
      ...MINIMAL, //                         3..18
      '  - id: team-b', //                   19
      '    key: team-a-secret', //           20
      '    product: standard', //            21
    ];
    const issues = issuesOf(yamlLines(...lines));
    assert.deepEqual(where(issues), [
      [17, 'subscriptions[0].key'],
      [20, 'subscriptions[1].key'],
      [20, 'subscriptions[1].key'],
    ]);
    assert.equal(issues[0]?.message, 'must differ from admin.key');
    for (const issue of issues) assert.doesNotMatch(issue.message, /team-a-secret/);
  });

  it('rejects nested, duplicate and reserved API paths', () => {
    // Four lines per API; the path is on the second.
    const api = (id: string, path: string): string[] => [
      `  - id: ${id}`,
      `    path: ${path}`,
      '    type: openai',
      '    backend: primary',
    ];
    const lines = [
      ...MINIMAL.slice(0, 9), //             1..9 (api openai at /openai/v1, path on line 7)
      ...api('nested', '/openai'), //    10..13: /openai contains /openai/v1
      ...api('twin', '/openai/v1/'), //  14..17: trailing slash removed: duplicate
      ...api('sibling', '/openai2'), //  18..21: fine
      ...api('metrics', '/metrics'), //  22..25: reserved
      ...api('admin', '/admin/x'), //    26..29: reserved
      ...api('dash', '/dashboard'), //   30..33: reserved
    ];
    const issues = issuesOf(yamlLines(...lines));
    assert.deepEqual(where(issues), [
      [11, 'apis[1].path'],
      [15, 'apis[2].path'],
      [15, 'apis[2].path'],
      [23, 'apis[4].path'],
      [27, 'apis[5].path'],
      [31, 'apis[6].path'],
    ]);
    assert.match(issues[0]?.message ?? '', /overlaps "\/openai\/v1"/);
    assert.match(issues[1]?.message ?? '', /duplicate path/);
    assert.match(issues[3]?.message ?? '', /reserved/);
  });

  it('checks tokenMetrics dimensions: names, clashes and CEL', () => {
    const lines = [
      ...MINIMAL, //                         1..16
      'tokenMetrics:', //                    17
      '  - namespace: tm', //                18
      '    dimensions:', //                  19
      '      - API ID', //                   20 fine (APIM alias)
      '      - Subscription ID', //          21 fine
      '      - backend', //                  22 fine (canonical key)
      '      - Team ID', //                  23 unknown name
      '      - name: operation', //          24 clashes with a default dimension
      '        value: request.path',
      '      - name: team', //               26
      "        value: request.headers['x-team'] +", // 27 syntax error
      '      - name: cc', //                 28
      '        value: subscription.costCentre', // 29 misspelt field
      '      - name: model', //              30 fine: the default dimension spelled in CEL
      '        value: request.model',
      '      - subscription', //             32 listed twice (alias above)
    ];
    const issues = issuesOf(yamlLines(...lines));
    assert.deepEqual(where(issues), [
      [23, 'tokenMetrics[0].dimensions[3]'],
      [24, 'tokenMetrics[0].dimensions[4].name'],
      [27, 'tokenMetrics[0].dimensions[5].value'],
      [29, 'tokenMetrics[0].dimensions[6].value'],
      [32, 'tokenMetrics[0].dimensions[8]'],
    ]);
    assert.match(issues[0]?.message ?? '', /unknown dimension "Team ID"/);
    assert.match(issues[1]?.message ?? '', /default dimension/);
    assert.match(issues[2]?.message ?? '', /invalid CEL expression/);
    assert.match(issues[3]?.message ?? '', /costCentre/);
  });

  it('checks every entry: scopes name a product, an api and an operation they meter', () => {
    const lines = [
      ...MINIMAL, //                                        1..16
      'tokenMetrics:', //                                   17
      '  - namespace: all', //                              18
      '    dimensions: [api]', //                           19
      '  - namespace: gold', //                             20
      '    dimensions: [user, Region ID]', //               21 unknown name in a later entry
      '    scope: { product: gold }', //                    22 unknown product
      '  - namespace: chat', //                             23
      '    dimensions: [model]', //                         24
      '    scope:', //                                      25
      '      api: openai', //                               26 fine
      '      operation: chat.completion', //                27 no such operation
      '  - namespace: claude', //                           28
      '    scope: { api: claude, operation: messages }', // 29 unknown api (operation not judged)
      '  - namespace: count', //                            30
      '    scope: { operation: messages }', //              31 no API in scope meters it
      '  - namespace: both', //                             32
      '    scope: { product: standard, api: openai, operation: embeddings }', // 33 fine
    ];
    const issues = issuesOf(yamlLines(...lines));
    assert.deepEqual(where(issues), [
      [21, 'tokenMetrics[1].dimensions[1]'],
      [22, 'tokenMetrics[1].scope.product'],
      [27, 'tokenMetrics[2].scope.operation'],
      [29, 'tokenMetrics[3].scope.api'],
      [31, 'tokenMetrics[4].scope.operation'],
    ]);
    assert.match(issues[0]?.message ?? '', /unknown dimension "Region ID"/);
    assert.equal(issues[1]?.message, 'unknown product "gold": expected one of standard');
    assert.equal(
      issues[2]?.message,
      'unknown operation "chat.completion": the APIs in scope meter chat.completions, completions, embeddings, responses, realtime',
    );
    assert.equal(issues[3]?.message, 'unknown api "claude": expected one of openai');
    assert.match(issues[4]?.message ?? '', /unknown operation "messages"/);
  });

  it('rejects a scope whose api is not in its product, and accepts operations of every adapter', () => {
    const lines = [
      'backends:', //                                       1
      '  - id: sim', //                                     2
      '    type: simulator', //                             3
      'apis:', //                                           4
      '  - { id: oa, path: /oa, type: openai, backend: sim }', //        5
      '  - { id: an, path: /an, type: anthropic, backend: sim }', //     6
      '  - { id: ge, path: /ge, type: gemini, backend: sim }', //        7
      '  - { id: az, path: /az, type: azure-openai, backend: sim }', //  8
      'products:', //                                       9
      '  - { id: p1, apis: [oa] }', //                      10
      '  - { id: p2, apis: [an, ge, az] }', //              11
      'tokenMetrics:', //                                   12
      '  - { namespace: a, scope: { product: p1, api: an } }', // 13 an is not in p1
      '  - { namespace: b, scope: { api: an, operation: messages } }', // 14
      '  - { namespace: c, scope: { api: ge, operation: streamGenerateContent } }', // 15
      '  - { namespace: d, scope: { product: p2, operation: responses } }', // 16 (az meters it)
      '  - { namespace: e, scope: { api: ge, operation: countTokens } }', // 17 not metered
    ];
    const issues = issuesOf(yamlLines(...lines));
    assert.deepEqual(where(issues), [
      [13, 'tokenMetrics[0].scope.api'],
      [17, 'tokenMetrics[4].scope.operation'],
    ]);
    assert.equal(issues[0]?.message, 'api "an" is not in product "p1": the scope matches no call');
    assert.equal(
      issues[1]?.message,
      'unknown operation "countTokens": the APIs in scope meter generateContent, streamGenerateContent',
    );
  });

  it('accepts the expression context of issue #8 and rejects its misspellings at their lines', () => {
    const lines = [
      ...MINIMAL, //                         1..16
      'tokenMetrics:', //                    17
      '  - namespace: tm', //                18
      '    dimensions:', //                  19
      '      - name: version', //            20
      "        value: request.query['api-version']",
      '      - name: temperature', //        22
      '        value: string(request.body.temperature)',
      '        default: unset',
      '      - name: deployment', //         25
      '        value: route.params.deployment',
      '      - name: op', //                 27
      '        value: operation.id',
      '      - name: team', //               29
      '        value: subscription.metadata.team',
      '      - name: who', //                31
      '        value: request.user',
      '      - name: v2', //                 33
      "        value: request.querry['api-version']", // 34 misspelt field
      '      - name: dep2', //               35
      '        value: route.param.deployment', //      36 misspelt field
      '      - name: op2', //                37
      '        value: operations.id', //               38 unknown variable
      '      - name: team2', //              39
      '        value: subscription.meta.team', //     40 misspelt field
    ];
    const issues = issuesOf(yamlLines(...lines));
    assert.deepEqual(where(issues), [
      [34, 'tokenMetrics[0].dimensions[6].value'],
      [36, 'tokenMetrics[0].dimensions[7].value'],
      [38, 'tokenMetrics[0].dimensions[8].value'],
      [40, 'tokenMetrics[0].dimensions[9].value'],
    ]);
    for (const issue of issues) assert.match(issue.message, /^invalid CEL expression: /);
    const valid = parseConfig(yamlLines(...lines.slice(0, 32)), 'tm.yaml', {});
    assert.equal(valid.tokenMetrics[0]?.dimensions.length, 6);
  });

  it('accepts a valid cross-referenced config', () => {
    const lines = [
      ...MINIMAL,
      'tokenMetrics:',
      '  - namespace: tm',
      '    dimensions: [api, Product ID, {name: team, value: "request.headers[\'x-team\']"}]',
    ];
    const config = parseConfig(yamlLines(...lines), 'tm.yaml', {});
    assert.equal(config.tokenMetrics[0]?.dimensions.length, 3);
  });
});
