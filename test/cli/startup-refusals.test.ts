import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CLI } from '../helpers/paths.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI in `cwd`; a serve that wrongly starts is killed after 20 s (code null). */
function runCli(args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { cwd, timeout: 20_000, env: { ...process.env, TOKENMETER_LOG_LEVEL: 'warn' } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs `work` over `items`, at most `limit` at a time (the CLI processes share two cores). */
async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  const lanes = Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  });
  await Promise.all(lanes);
  return results;
}

const BACKEND = '  - { id: primary, type: openai, url: "http://127.0.0.1:9/v1" }';
const API = '  - { id: openai, path: /openai/v1, type: openai, backend: primary }';

/** A config that is valid except where `overrides` (a top-level section each) say otherwise. */
function config(overrides: { gateway?: string; backends?: string; apis?: string; ledger?: string }): string {
  return [
    'gateway:',
    overrides.gateway ?? '  port: 0',
    'backends:',
    overrides.backends ?? BACKEND,
    'apis:',
    overrides.apis ?? API,
    `ledger: ${overrides.ledger ?? 'sqlite:./data/ledger.db'}`,
    '',
  ].join('\n');
}

const STACK_LINE = /\n\s+at /;

describe('config check and serve refuse the same configurations, one line each, exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tm-refusals-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'a-file'), 'not a directory');
  writeFileSync(join(dir, 'not-a-db.db'), 'this is text, not an SQLite database file');
  mkdirSync(join(dir, 'a-dir'));

  // [name, config, the path and message the single issue must name]
  const cases: [string, string, RegExp][] = [
    [
      'proxy not an address',
      config({ gateway: '  trustedProxies: [proxy.internal]' }),
      /gateway\.trustedProxies\[0\]: must be an IP/,
    ],
    [
      'proxy prefix too long',
      config({ gateway: '  trustedProxies: ["10.0.0.0/33"]' }),
      /gateway\.trustedProxies\[0\]: the prefix/,
    ],
    [
      'proxy prefix not a number',
      config({ gateway: '  trustedProxies: ["fd00::/x"]' }),
      /gateway\.trustedProxies\[0\]: the prefix/,
    ],
    [
      'proxy with a port',
      config({ gateway: '  trustedProxies: ["10.0.0.1:80"]' }),
      /gateway\.trustedProxies\[0\]: must be an IP/,
    ],
    [
      'backend url not http',
      config({ backends: '  - { id: primary, type: openai, url: "ftp://files.example/v1" }' }),
      /backends\[0\]\.url: must be an http/,
    ],
    [
      'backend url with a query',
      config({ backends: '  - { id: primary, type: openai, url: "https://api.example/v1?key=s3cret" }' }),
      /backends\[0\]\.url: must not carry a query/,
    ],
    [
      'backend url with a fragment',
      config({ backends: '  - { id: primary, type: openai, url: "https://api.example/v1#x" }' }),
      /backends\[0\]\.url: must not carry a fragment/,
    ],
    [
      'backend url with user:password',
      config({ backends: '  - { id: primary, type: openai, url: "https://me:s3cret@api.example/v1" }' }),
      /backends\[0\]\.url: must not carry user:password/,
    ],
    [
      'backend url not a URL',
      config({ backends: '  - { id: primary, type: openai, url: "api.example/v1" }' }),
      /backends\[0\]\.url: must be an absolute/,
    ],
    [
      'api path with a space',
      config({ apis: '  - { id: openai, path: "/open ai", type: openai, backend: primary }' }),
      /apis\[0\]\.path: holds a space/,
    ],
    [
      'api path with a control character',
      config({ apis: '  - { id: openai, path: "/open\\tai", type: openai, backend: primary }' }),
      /apis\[0\]\.path: holds U\+0009/,
    ],
    [
      'api path with "<"',
      config({ apis: '  - { id: openai, path: "/a<b", type: openai, backend: primary }' }),
      /apis\[0\]\.path: holds "<"/,
    ],
    [
      'api path with a bad escape',
      config({ apis: '  - { id: openai, path: "/a%zz", type: openai, backend: primary }' }),
      /apis\[0\]\.path: "%" must start/,
    ],
    [
      'api path with ..',
      config({ apis: '  - { id: openai, path: "/a/../b", type: openai, backend: primary }' }),
      /apis\[0\]\.path: must not hold "\." or "\.\."/,
    ],
    [
      'postgres ledger that is no URL (the password not echoed)',
      config({ ledger: 'postgres://tm:s3cret@:5432/tm' }),
      /ledger: is not a valid postgres:\/\/ URL/,
    ],
    [
      'postgres ledger without a host, long form',
      config({ ledger: '{ url: "postgresql:///tm", whenUnavailable: refuse }' }),
      /ledger\.url: the postgres:\/\/ URL has no host/,
    ],
    [
      'ledger below a file',
      config({ ledger: 'sqlite:./a-file/ledger.db' }),
      /ledger: .*cannot be created: .*a-file is not a directory/,
    ],
    ['ledger is a directory', config({ ledger: 'sqlite:./a-dir' }), /ledger: .*a-dir is a directory/],
    [
      'ledger is not a database',
      config({ ledger: '{ url: "sqlite:./not-a-db.db" }' }),
      /ledger\.url: .*not-a-db\.db is not an SQLite database/,
    ],
    [
      'headers timeout above request timeout',
      config({ gateway: '  requestTimeoutMs: 1000\n  headersTimeoutMs: 2000' }),
      /gateway\.headersTimeoutMs: must not exceed gateway\.requestTimeoutMs/,
    ],
    [
      'timeout beyond what timers hold',
      config({ gateway: '  keepAliveTimeoutMs: 3000000000' }),
      /gateway\.keepAliveTimeoutMs: /,
    ],
  ];

  it('each bad configuration: config check and serve both exit 2 with the one issue, no stack', async () => {
    const runs = await mapLimited(cases, 3, async ([name, text, expected]) => {
      const file = `case-${cases.findIndex((c) => c[0] === name)}.yaml`;
      writeFileSync(join(dir, file), text);
      const check = await runCli(['config', 'check', '--config', file], dir);
      const serve = await runCli(['serve', '--config', file], dir);
      return { name, file, expected, check, serve };
    });
    for (const { name, file, expected, check, serve } of runs) {
      for (const [command, run] of [
        ['config check', check],
        ['serve', serve],
      ] as const) {
        const what = `${name} (${command}): ${run.stderr}`;
        assert.equal(run.code, 2, what);
        assert.equal(run.stdout, '', what);
        const lines = run.stderr.trimEnd().split('\n');
        assert.equal(lines.length, 1, what);
        assert.match(
          lines[0] ?? '',
          new RegExp(`^tokenmeter: ${file.replaceAll('.', '\\.')}:\\d+:\\d+ `),
          what,
        );
        assert.match(lines[0] ?? '', expected, what);
        assert.doesNotMatch(run.stderr, STACK_LINE, what);
        assert.doesNotMatch(run.stderr, /s3cret/, what);
      }
    }
  });

  it('config check lists every issue, each with its line', async () => {
    const text = config({
      gateway: '  trustedProxies: [bogus, "10.0.0.0/8", "::1/129"]',
      backends: '  - { id: primary, type: openai, url: "https://api.example/v1?x=1" }',
      apis: '  - { id: openai, path: "/a b", type: openai, backend: primary }',
      ledger: 'postgres:///tm',
    });
    writeFileSync(join(dir, 'many.yaml'), text);
    const run = await runCli(['config', 'check', '--config', 'many.yaml'], dir);
    assert.equal(run.code, 2, run.stderr);
    const lines = run.stderr
      .trimEnd()
      .replace(/^tokenmeter: /, '')
      .split('\n');
    assert.deepEqual(
      lines.map((l) => /^many\.yaml:(\d+):\d+ (\S+):/.exec(l)?.slice(1, 3)),
      [
        ['2', 'gateway.trustedProxies[0]'],
        ['2', 'gateway.trustedProxies[2]'],
        ['4', 'backends[0].url'],
        ['6', 'apis[0].path'],
        ['7', 'ledger'],
      ],
    );
  });

  it('config check accepts PostgreSQL ledgers (short and long form) without connecting or echoing the password', async () => {
    for (const [file, ledger] of [
      ['pg-short.yaml', 'postgres://tm:s3cret@db.example:5432/tm'],
      ['pg-long.yaml', '{ url: "postgresql://tm:s3cret@127.0.0.1:1/tm", whenUnavailable: refuse }'],
    ] as const) {
      writeFileSync(join(dir, file), config({ ledger }));
      const check = await runCli(['config', 'check', '--config', file], dir);
      assert.equal(check.code, 0, `${file}: ${check.stderr}`);
      assert.match(check.stdout, /^config OK/);
      assert.doesNotMatch(check.stdout + check.stderr, /s3cret/);
    }
  });

  it('valid trusted proxies of every form pass (IPv4, IPv6, IPv4-mapped, single address)', async () => {
    writeFileSync(
      join(dir, 'good.yaml'),
      config({
        gateway:
          '  port: 0\n  trustedProxies: ["10.0.0.0/8", "::ffff:192.168.0.0/112", "fd00::/8", "127.0.0.1"]',
      }),
    );
    const check = await runCli(['config', 'check', '--config', 'good.yaml'], dir);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /^config OK/);
  });
});

describe('serve: a failure to listen is one line and exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tm-listen-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function expectListenFailure(gateway: string, expected: RegExp, args: string[] = []): Promise<void> {
    writeFileSync(join(dir, 'listen.yaml'), config({ gateway }));
    const check = await runCli(['config', 'check', '--config', 'listen.yaml'], dir);
    assert.equal(check.code, 0, `config check cannot know: ${check.stderr}`);
    const serve = await runCli(['serve', '--config', 'listen.yaml', ...args], dir);
    assert.equal(serve.code, 2, serve.stderr);
    assert.equal(serve.stderr.trimEnd().split('\n').length, 1, serve.stderr);
    assert.match(serve.stderr, expected);
    assert.doesNotMatch(serve.stderr, STACK_LINE);
  }

  it('port already in use (gateway.port and --port)', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const inUse = new RegExp(
        `^tokenmeter: cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use`,
      );
      await expectListenFailure(`  host: 127.0.0.1\n  port: ${port}`, inUse);
      await expectListenFailure('  host: 127.0.0.1\n  port: 0', inUse, ['--port', String(port)]);
    } finally {
      blocker.close();
    }
  });

  it('an address this machine does not have (EADDRNOTAVAIL)', async () => {
    await expectListenFailure(
      '  host: 10.255.255.1\n  port: 0',
      /cannot listen on 10\.255\.255\.1:0: the address is not available/,
    );
  });

  it('a host name that does not resolve', async () => {
    await expectListenFailure(
      '  host: no-such-host.invalid\n  port: 0',
      /cannot listen on no-such-host\.invalid:0: the host name does not resolve/,
    );
  });
});
