import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load-config.js';
import {
  compileDimensionExpression,
  createDimensionEnvironment,
} from '../../src/dimensions/custom-dimensions.js';
import { REPO_ROOT } from '../helpers/paths.js';

test("the README's configuration example is a valid configuration", () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  // The full example of the Configuration section (the SDK sections before it show fragments).
  const section = readme.slice(readme.indexOf('\n## Configuration\n'));
  const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, 'the README has a yaml block');
  const env = {
    TOKENMETER_ADMIN_KEY: 'admin-key-0123456789',
    OPENAI_API_KEY: 'sk-x',
    AZURE_OPENAI_KEY: 'az-x',
    ANTHROPIC_API_KEY: 'ant-x',
    GEMINI_API_KEY: 'gem-x',
    TEAM_A_KEY: 'team-a-key-0123',
    ENTRA_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  };
  const config = parseConfig(block, 'README.md', env);
  assert.deepEqual(
    config.apis.map((a) => a.type),
    ['openai', 'azure-openai', 'anthropic', 'gemini', 'bedrock'],
  );
  assert.equal(config.subscriptions[0]?.key, 'team-a-key-0123');
});

test('every custom dimension expression the README and docs/who-is-calling.md show compiles', () => {
  const env = createDimensionEnvironment();
  let expressions = 0;
  for (const file of ['README.md', join('docs', 'who-is-calling.md')]) {
    const text = readFileSync(join(REPO_ROOT, file), 'utf8');
    for (const [, block] of text.matchAll(/```yaml\n([\s\S]*?)```/g)) {
      const doc = parse(block ?? '') as { tokenMetrics?: { dimensions?: unknown[] }[] } | null;
      for (const entry of doc?.tokenMetrics ?? []) {
        for (const dimension of entry.dimensions ?? []) {
          if (typeof dimension !== 'object' || dimension === null) continue;
          const { name, value } = dimension as { name: string; value: string };
          const compiled = compileDimensionExpression(env, value);
          assert.ok(!('error' in compiled), `${file}: ${name}: ${'error' in compiled ? compiled.error : ''}`);
          expressions += 1;
        }
      }
    }
  }
  assert.ok(expressions >= 8, `found ${expressions} expressions`);
});
