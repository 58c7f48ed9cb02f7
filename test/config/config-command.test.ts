import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Command } from 'commander';
import { CliInputError } from '../../src/cli/cli-error.js';
import { addConfigCommand } from '../../src/cli/config-command.js';
import { ConfigError } from '../../src/config/config-error.js';
import { MINIMAL, yamlLines } from './helpers.js';

describe('tokenmeter config check', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tm-config-check-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  function run(args: string[], cwd: string = dir): string {
    let out = '';
    const program = new Command('tokenmeter').exitOverride();
    addConfigCommand(program, {
      cwd: () => cwd,
      env: { TEAM_KEY: 'team-a-secret' },
      stdout: (text) => (out += text),
    });
    program.parse(['config', 'check', ...args], { from: 'user' });
    return out;
  }

  it('prints a summary for a valid file', () => {
    const file = join(dir, 'good.yaml');
    const lines: string[] = [...MINIMAL];
    lines[14] = '    key: ${TEAM_KEY}';
    writeFileSync(file, yamlLines(...lines));
    assert.equal(run(['--config', file]), 'config OK: 1 backends, 1 apis, 1 products, 1 subscriptions\n');
  });

  it('warns, and still says OK, about deployments whose model has no price', () => {
    const file = join(dir, 'deployments.yaml');
    const lines: string[] = [...MINIMAL];
    lines[3] =
      '    url: https://example.openai.azure.com\n    deployments: { dep-a: gpt-4o, dep-b: house-model, dep-c: agreed-model, dep-d: no-such-model }';
    lines[2] = '    type: azure-openai';
    writeFileSync(
      file,
      yamlLines(
        ...lines,
        'pricing:',
        '  overrides:',
        '    - { model: agreed-model, input: 1, output: 2, from: 2030-01-01 }',
      ),
    );
    let err = '';
    let out = '';
    const program = new Command('tokenmeter').exitOverride();
    addConfigCommand(program, {
      cwd: () => dir,
      env: {},
      stdout: (t) => (out += t),
      stderr: (t) => (err += t),
    });
    program.parse(['config', 'check', '--config', file], { from: 'user' });
    assert.match(out, /^config OK/);
    const warnings = err.trim().split('\n');
    assert.deepEqual(
      warnings.map((w) => w.split(': ')[0]),
      [`${file} backends[0].deployments.dep-b`, `${file} backends[0].deployments.dep-d`],
    );
    for (const w of warnings) assert.match(w, /: warning: /);
  });

  it('reads ./tokenmeter.yaml when no --config is given', () => {
    const cwd = mkdtempSync(join(dir, 'cwd-'));
    writeFileSync(join(cwd, 'tokenmeter.yaml'), yamlLines(...MINIMAL.slice(0, 9)));
    assert.equal(run([], cwd), 'config OK: 1 backends, 1 apis, 0 products, 0 subscriptions\n');
  });

  it('fails with exit code 2 when there is no config at all', () => {
    const cwd = mkdtempSync(join(dir, 'empty-'));
    assert.throws(
      () => run([], cwd),
      (err: unknown) => err instanceof CliInputError && err.exitCode === 2 && /--config/.test(err.message),
    );
  });

  it('throws a ConfigError listing every issue, one line each', () => {
    const file = join(dir, 'bad.yaml');
    const lines: string[] = [...MINIMAL];
    lines[8] = '    backend: nowhere'; //   9
    lines[15] = '    product: nothing'; //  16
    writeFileSync(file, yamlLines(...lines));
    assert.throws(
      () => run(['--config', file]),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.exitCode, 2);
        assert.deepEqual(err.message.split('\n'), [
          `${file}:9:14 apis[0].backend: unknown backend "nowhere"`,
          `${file}:16:14 subscriptions[0].product: unknown product "nothing"`,
        ]);
        return true;
      },
    );
  });

  it('prints a bad tokenMetrics scope and dimension at file:line', () => {
    const file = join(dir, 'bad-scope.yaml');
    const lines: string[] = [
      ...MINIMAL,
      'tokenMetrics:', //                        17
      '  - namespace: tm', //                    18
      '    dimensions: [api]', //                19
      '  - namespace: chat', //                  20
      '    dimensions: [Team ID]', //            21
      '    scope: { api: opnai }', //            22
    ];
    writeFileSync(file, yamlLines(...lines));
    assert.throws(
      () => run(['--config', file]),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.exitCode, 2);
        const text = err.message.split('\n');
        assert.equal(text.length, 2);
        assert.match(
          text[0] ?? '',
          new RegExp(`^${file}:21:\\d+ tokenMetrics\\[1\\]\\.dimensions\\[0\\]: unknown dimension "Team ID"`),
        );
        assert.match(
          text[1] ?? '',
          new RegExp(
            `^${file}:22:\\d+ tokenMetrics\\[1\\]\\.scope\\.api: unknown api "opnai": expected one of openai$`,
          ),
        );
        return true;
      },
    );
  });

  it('reports a missing --config file in one line', () => {
    const file = join(dir, 'missing.yaml');
    assert.throws(() => run(['--config', file]), { message: `${file}: config file not found` });
  });
});
