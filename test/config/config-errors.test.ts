import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatConfigIssue } from '../../src/config/config-error.js';
import { issuesOf, MINIMAL, where, yamlLines } from './helpers.js';

describe('config errors name file, line and path', () => {
  it('reports a YAML syntax error at its line and stops there', () => {
    const issues = issuesOf(yamlLines('gateway:', '  port: 80', '  host: [a', 'backends: []'));
    assert.equal(issues.length, 1);
    assert.equal(issues[0]?.line, 4);
    assert.equal(issues[0]?.path, '');
    assert.match(formatConfigIssue(issues[0] ?? assert.fail()), /^tm\.yaml:4:1: /);
  });

  it('reports duplicate keys as a YAML error at the second key', () => {
    const issues = issuesOf(yamlLines('gateway:', '  port: 80', '  port: 81', ...MINIMAL));
    assert.deepEqual(
      issues.map((i) => [i.line, i.column]),
      [[3, 3]],
    );
  });

  it('reports a misspelt key at the key, with a suggestion', () => {
    const issues = issuesOf(yamlLines('gateway:', '  prot: 8080', ...MINIMAL));
    assert.deepEqual(issues, [
      {
        file: 'tm.yaml',
        line: 2,
        column: 3,
        path: 'gateway.prot',
        message: 'unknown key (did you mean "port"?)',
      },
    ]);
  });

  it('collects many schema errors, each at its own line, in line order', () => {
    const lines: string[] = [...MINIMAL];
    lines[2] = '    type: openia'; //            3: not a backend type
    lines[6] = '    path: openai/v1'; //         7: no leading slash
    lines[14] = '    key: short'; //             15: key too short
    lines.push(
      '    colour: blue', //                   17: unknown key
      'tokenMetrics:', //                      18
      '  - namespace: 9tm', //                 19: bad prefix
      '    dimensions:', //                    20
      '      - 42', //                         21: neither name nor object
      '      - name: team', //                 22: `value` is missing: reported at the mapping
      '        valeu: request.path', //        23: unknown key
    );
    const issues = issuesOf(yamlLines(...lines));
    assert.deepEqual(where(issues), [
      [3, 'backends[0].type'],
      [7, 'apis[0].path'],
      [15, 'subscriptions[0].key'],
      [17, 'subscriptions[0].colour'],
      [19, 'tokenMetrics[0].namespace'],
      [21, 'tokenMetrics[0].dimensions[0]'],
      [22, 'tokenMetrics[0].dimensions[1].value'],
      [23, 'tokenMetrics[0].dimensions[1].valeu'],
    ]);
    assert.match(issues[2]?.message ?? '', /at least 8 characters/);
    assert.match(issues[6]?.message ?? '', /is required/);
    assert.match(issues[7]?.message ?? '', /did you mean "value"/);
  });

  it('reports a missing required section at the top of the file', () => {
    const issues = issuesOf(yamlLines(...MINIMAL.slice(0, 4)));
    assert.deepEqual(where(issues), [[1, 'apis']]);
    assert.match(issues[0]?.message ?? '', /is required/);
  });

  it('reports the missing url of a non-simulator backend at the backend', () => {
    const lines: string[] = [...MINIMAL];
    lines.splice(3, 1);
    const issues = issuesOf(yamlLines(...lines));
    assert.deepEqual(where(issues), [[2, 'backends[0].url']]);
  });

  it('reports interpolation and schema errors together', () => {
    const issues = issuesOf(yamlLines('gateway:', '  port: ${PORT}', '  hots: x', ...MINIMAL));
    assert.deepEqual(where(issues), [
      [2, 'gateway.port'],
      [3, 'gateway.hots'],
    ]);
  });

  it('reports an empty file', () => {
    const issues = issuesOf('# nothing here\n');
    assert.deepEqual(where(issues), [[1, '']]);
    assert.match(issues[0]?.message ?? '', /empty/);
  });

  it('formats each issue as file:line:col path: message', () => {
    assert.equal(
      formatConfigIssue({
        file: 'a.yaml',
        line: 3,
        column: 5,
        path: 'apis[0].backend',
        message: 'unknown backend "x"',
      }),
      'a.yaml:3:5 apis[0].backend: unknown backend "x"',
    );
    assert.equal(
      formatConfigIssue({ file: 'a.yaml', line: 0, column: 0, path: '', message: 'config file not found' }),
      'a.yaml: config file not found',
    );
  });
});
