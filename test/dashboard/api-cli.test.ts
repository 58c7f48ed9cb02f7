import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI } from '../helpers/paths.js';
import { ADMIN_KEY, configYaml, getJson, startFixture, type Fixture } from './api-fixture.js';

describe('tokenmeter dashboard --config F --port P', () => {
  let fx: Fixture;
  before(async () => {
    fx = await startFixture();
  });
  after(() => fx.close());

  it('serves the query API on the port, prints the URL and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [CLI, 'dashboard', '--config', fx.configPath, '--port', '0'], {
      env: { ...process.env, TOKENMETER_LOG_LEVEL: 'silent' },
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (text: string) => {
        out += text;
        const match = /tokenmeter dashboard on (http:\/\/\S+)\/dashboard\n/.exec(out);
        if (match?.[1] !== undefined) resolve(match[1]);
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    const usage = await getJson(`${url}/api/usage?since=2026-01-01&until=2026-02-01`, ADMIN_KEY);
    assert.equal(usage.status, 200);
    assert.equal((usage.body as unknown[]).length, 3);
    // Nothing is proxied: an API path of the configuration is not served here.
    assert.equal((await fetch(`${url}/openai/v1/chat/completions`, { method: 'POST' })).status, 404);
    const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    assert.equal(await exit, 0);
  });

  it('refuses a ledger that does not exist (exit 2), creating nothing', async () => {
    const configPath = join(fx.dir, 'missing.yaml');
    await writeFile(configPath, configYaml(join(fx.dir, 'none', 'ledger.db')));
    const result = spawnSync(process.execPath, [CLI, 'dashboard', '--config', configPath, '--port', '0'], {
      encoding: 'utf8',
    });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /^tokenmeter: no ledger at sqlite:.*\n$/);
  });
});
