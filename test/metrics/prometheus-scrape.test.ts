import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startSimulator } from '../../src/simulator/index.js';
import { startGatewayProcess } from '../helpers/gateway-process.js';
import { readLedgerRows } from '../helpers/ledger-rows.js';

const PROMETHEUS = '/usr/bin/prometheus';
const available = spawnSync(PROMETHEUS, ['--version']).status === 0;
// CI installs Prometheus (.ci/run); there a missing binary is a failure, not a skip.
const skip =
  !available && process.env.CI !== 'true'
    ? 'prometheus is not installed (apt-get install prometheus)'
    : false;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

async function queryScalar(base: string, promql: string): Promise<number | undefined> {
  try {
    const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { data?: { result?: { value?: [number, string] }[] } };
    const value = body.data?.result?.[0]?.value?.[1];
    return value === undefined ? undefined : Number(value);
  } catch {
    return undefined; // not up yet
  }
}

test('a real Prometheus scraping /metrics sees the ledger totals', { skip, timeout: 90_000 }, async () => {
  const sim = await startSimulator({ completionTokens: 9 });
  const gw = await startGatewayProcess({
    backends: [{ id: 'sim', type: 'openai', url: `${sim.url}/v1`, apiKey: 'sk-up' }],
    apis: [{ id: 'openai', path: '/openai/v1', type: 'openai', backend: 'sim' }],
    products: [{ id: 'p', apis: ['openai'] }],
    subscriptions: [
      { id: 'team-a', key: 'key-team-a-1', product: 'p' },
      { id: 'team-b', key: 'key-team-b-2', product: 'p' },
    ],
    tokenMetrics: [{ namespace: 'llm', dimensions: ['Subscription ID', 'model'] }],
  });
  const dir = mkdtempSync(join(tmpdir(), 'tokenmeter-prom-'));
  const port = await freePort();
  const target = new URL(gw.url).host;
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tokenmeter\n    static_configs:\n      - targets: ['${target}']\n`,
  );
  const prom = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: 'ignore' },
  );
  try {
    for (const [key, stream] of [
      ['key-team-a-1', false],
      ['key-team-a-1', true],
      ['key-team-b-2', false],
    ] as const) {
      const res = await fetch(`${gw.url}/openai/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: 'count me' }],
          stream,
        }),
      });
      await res.arrayBuffer();
    }
    const rows = readLedgerRows(gw.ledgerPath);
    const expected = (col: string, sub: string): number =>
      rows.filter((r) => r.subscription === sub).reduce((a, r) => a + ((r[col] as number | null) ?? 0), 0);
    const base = `http://127.0.0.1:${port}`;
    let prompt: number | undefined;
    let completion: number | undefined;
    // Scrapes happen every second; wait (bounded) until one has seen all three calls.
    for (let i = 0; i < 60; i++) {
      prompt = await queryScalar(base, 'sum(llm_tokens_total{token_type="prompt",subscription="team-a"})');
      completion = await queryScalar(
        base,
        'sum(llm_tokens_total{token_type="completion",subscription="team-a"})',
      );
      const requestsB = await queryScalar(base, 'sum(llm_requests_total{subscription="team-b"})');
      if (
        prompt === expected('prompt_tokens', 'team-a') &&
        completion === expected('completion_tokens', 'team-a') &&
        requestsB === 1
      )
        break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(prompt, expected('prompt_tokens', 'team-a'));
    assert.equal(completion, expected('completion_tokens', 'team-a'));
    assert.ok((prompt ?? 0) > 0);
    assert.equal(
      sim.stats().promptTokens,
      expected('prompt_tokens', 'team-a') + expected('prompt_tokens', 'team-b'),
    );
  } finally {
    prom.kill('SIGTERM');
    await gw.stop();
    await sim.close();
  }
});
