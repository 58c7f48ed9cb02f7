import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/load-config.js';
import { REPO_ROOT } from '../helpers/paths.js';

test("the README's configuration example is a valid configuration", () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const block = /```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, 'the README has a yaml block');
  const env = {
    TOKENMETER_ADMIN_KEY: 'admin-key-0123456789',
    OPENAI_API_KEY: 'sk-x',
    AZURE_OPENAI_KEY: 'az-x',
    ANTHROPIC_API_KEY: 'ant-x',
    GEMINI_API_KEY: 'gem-x',
    TEAM_A_KEY: 'team-a-key-0123',
  };
  const config = parseConfig(block, 'README.md', env);
  assert.deepEqual(
    config.apis.map((a) => a.type),
    ['openai', 'azure-openai', 'anthropic', 'gemini'],
  );
  assert.equal(config.subscriptions[0]?.key, 'team-a-key-0123');
});
