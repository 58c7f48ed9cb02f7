import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { CLI } from '../helpers/paths.js';

function run(args: string[], cwd?: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd, timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('--help works in a clone after the build', () => {
  const res = run(['--help']);
  assert.equal(res.status, 0);
  for (const command of ['serve', 'demo', 'usage', 'config'])
    assert.match(res.stdout, new RegExp(`\\b${command}\\b`));
});

test('bad command-line input exits 2 with one line on stderr', () => {
  for (const args of [
    ['serve', '--port', 'eighty'],
    ['usage', '--ledger', 'sqlite::memory:', '--by', 'Region ID'],
    ['usage', '--ledger', 'sqlite::memory:', '--since', 'last tuesday'],
    ['usage', '--ledger', 'sqlite::memory:', '--format', 'xml'],
    ['no-such-command'],
  ]) {
    const res = run(args);
    assert.equal(res.status, 2, args.join(' '));
    assert.equal(res.stderr.trim().split('\n').length, 1, `${args.join(' ')}: ${res.stderr}`);
  }
});

test('a port already in use is one clear line, not a stack trace', async () => {
  const { createServer } = await import('node:net');
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const address = blocker.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  try {
    const res = run(
      ['demo', '--once', '--port', String(port)],
      mkdtempSync(join(tmpdir(), 'tokenmeter-port-')),
    );
    assert.equal(res.status, 2);
    assert.match(
      res.stderr,
      new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use`),
    );
    assert.equal(res.stderr.trim().split('\n').length, 1);
  } finally {
    blocker.close();
  }
});

test('usage: a custom dimension must be configured or present in the ledger', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tokenmeter-cli-'));
  const ledgerPath = join(dir, 'ledger.db');
  const ledger = createSqliteLedger(ledgerPath);
  await ledger.append({
    id: 'r1',
    time: Date.now(),
    api: 'openai',
    operation: 'chat.completions',
    stream: false,
    subscription: 'team-a',
    custom: { appId: 'app-7' },
    source: 'reported',
    status: 200,
    latencyMs: 3,
    promptTokens: 10,
    completionTokens: 2,
    totalTokens: 12,
  });
  await ledger.close();

  const known = run(['usage', '--ledger', `sqlite:${ledgerPath}`, '--by', 'appId', '--format', 'json']);
  assert.equal(known.status, 0, known.stderr);
  assert.deepEqual(
    (JSON.parse(known.stdout) as { appId: string; totalTokens: number }[]).map((r) => [
      r.appId,
      r.totalTokens,
    ]),
    [['app-7', 12]],
  );

  const typo = run(['usage', '--ledger', `sqlite:${ledgerPath}`, '--by', 'appid_typo']);
  assert.equal(typo.status, 2);
  assert.match(typo.stderr, /unknown dimension "appid_typo".*appId/);

  // Configured but not yet in any record: accepted (an empty result, not an error).
  writeFileSync(
    join(dir, 'tokenmeter.yaml'),
    [
      `ledger: sqlite:${ledgerPath}`,
      'backends: [{ id: b, type: openai, url: "http://127.0.0.1:9/v1" }]',
      'apis: [{ id: openai, path: /openai/v1, type: openai, backend: b }]',
      'products: [{ id: p, apis: [openai] }]',
      'tokenMetrics: [{ namespace: tm, dimensions: [{ name: team, value: "request.headers[\'x-team\']" }] }]',
    ].join('\n'),
  );
  const configured = run(['usage', '--by', 'team', '--format', 'json'], dir);
  assert.equal(configured.status, 0, configured.stderr);
  assert.deepEqual(
    (JSON.parse(configured.stdout) as { team: unknown }[]).map((r) => r.team),
    [null],
  );
});

test('demo --once runs gateway, simulator and traffic from five teams, and prints their usage', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tokenmeter-demo-'));
  const res = run(['demo', '--once', '--port', '0'], dir);
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stdout, /36\/36 calls answered/);
  for (const team of ['team-search', 'team-support', 'team-analytics', 'team-platform', 'team-research']) {
    const line = res.stdout.split('\n').find((l) => l.startsWith(team));
    assert.ok(line, `${team} has a usage row`);
    const requests = Number(line.split(/\s+/)[1]);
    assert.ok(requests > 0);
  }
  assert.match(res.stdout, /Metrics: +http:\/\/127\.0\.0\.1:\d+\/metrics/);
  assert.match(res.stdout, /Dashboard: +http:\/\/127\.0\.0\.1:\d+\/dashboard +\(sign in with demo-admin-key/);
  // Every provider shape is in the traffic.
  for (const api of ['openai', 'azure-openai', 'anthropic', 'gemini', 'bedrock', 'cohere', 'ollama']) {
    assert.match(res.stdout, new RegExp(`^${api} +\\S+ +[1-9]`, 'm'), `${api} has usage`);
  }
  // Issue #9: every demo model is in the catalog, embeddings on the simulator included.
  const embeddings = res.stdout.split('\n').find((l) => /^openai +embeddings /.test(l));
  assert.ok(embeddings !== undefined);
  const cells = embeddings.trim().split(/\s+/);
  assert.deepEqual(cells.slice(-2), ['0', '0'], 'no unpriced tokens or requests');
  assert.ok(Number(cells.at(-3)) > 0, `embeddings cost: ${embeddings}`);
});
