import assert from 'node:assert/strict';
import { ConfigError, type ConfigIssue } from '../../src/config/config-error.js';
import { parseConfig } from '../../src/config/load-config.js';

/** Joins lines so that line N of the YAML is element N-1: tests state line numbers literally. */
export function yamlLines(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

/** The smallest valid config, as lines 1..16 (tests append or replace lines). */
export const MINIMAL = [
  'backends:', //                        1
  '  - id: primary', //                  2
  '    type: openai', //                 3
  '    url: https://api.openai.com/v1', // 4
  'apis:', //                            5
  '  - id: openai', //                   6
  '    path: /openai/v1', //             7
  '    type: openai', //                 8
  '    backend: primary', //             9
  'products:', //                        10
  '  - id: standard', //                 11
  '    apis: [openai]', //               12
  'subscriptions:', //                   13
  '  - id: team-a', //                   14
  '    key: team-a-secret', //           15
  '    product: standard', //            16
] as const;

/** Parses and returns the issues of the ConfigError it must throw. */
export function issuesOf(text: string, env: Record<string, string> = {}): ConfigIssue[] {
  try {
    parseConfig(text, 'tm.yaml', env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.message.split('\n').length, err.issues.length);
    return [...err.issues];
  }
  assert.fail('expected the config to be rejected');
}

/** [line, path] of each issue, for compact assertions. */
export function where(issues: readonly ConfigIssue[]): [number, string][] {
  return issues.map((i) => [i.line, i.path]);
}
