import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startSimulator } from '../../src/simulator/index.js';
import { startGatewayProcess } from '../helpers/gateway-process.js';
import { readLedgerRows } from '../helpers/ledger-rows.js';
import { REPO_ROOT } from '../helpers/paths.js';

const PROMETHEUS = '/usr/bin/prometheus';
const available = spawnSync(PROMETHEUS, ['--version']).status === 0;
// CI installs Prometheus (.ci/run); there a missing binary is a failure, not a skip.
const skip =
  !available && process.env.CI !== 'true'
    ? 'prometheus is not installed (apt-get install prometheus)'
    : false;

interface DashboardTarget {
  expr: string;
  refId: string;
}
interface Dashboard {
  panels: { title: string; targets?: DashboardTarget[] }[];
  templating: { list: { name: string; type: string; query: unknown; definition?: string }[] };
}

const dashboard = JSON.parse(
  readFileSync(join(REPO_ROOT, 'deploy', 'grafana', 'tokenmeter-dashboard.json'), 'utf8'),
) as Dashboard;

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

interface PromAnswer {
  status: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value?: [number, string] }[] };
}

async function query(base: string, promql: string): Promise<PromAnswer> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`);
  return (await res.json()) as PromAnswer;
}

/**
 * Grafana's variables, expanded as Grafana would for one choice of values: `$__rate_interval`,
 * `$__interval` and `$__range` to durations, `${namespace}`, and the multi-value variables to
 * the regex Grafana writes for them (`.*` for All, `(a|b)` for a selection).
 */
function expand(expr: string, values: Record<string, string>): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced?: string, bare?: string) => {
    const name = braced ?? bare ?? '';
    const value = values[name];
    if (value === undefined) throw new Error(`unexpanded variable ${whole} in ${expr}`);
    return value;
  });
}

/** `label_values(metric, label)` (Grafana's variable query) → the label's values in Prometheus. */
async function labelValues(
  base: string,
  definition: string,
  values: Record<string, string>,
): Promise<string[]> {
  const m = /^label_values\(\s*([^,]+),\s*(\w+)\s*\)$/.exec(expand(definition, values));
  assert.ok(m?.[1] !== undefined && m[2] !== undefined, `unsupported variable query: ${definition}`);
  const res = await fetch(`${base}/api/v1/label/${m[2]}/values?match[]=${encodeURIComponent(m[1])}`);
  const body = (await res.json()) as { status: string; data: string[] };
  assert.equal(body.status, 'success', definition);
  return body.data;
}

test(
  'every query of the Grafana dashboard parses and returns data from a real Prometheus',
  { skip, timeout: 120_000 },
  async () => {
    const sim = await startSimulator({ completionTokens: 9 });
    const gw = await startGatewayProcess({
      backends: [{ id: 'sim', type: 'openai', url: `${sim.url}/v1`, apiKey: 'sk-up' }],
      apis: [{ id: 'openai', path: '/openai/v1', type: 'openai', backend: 'sim' }],
      products: [{ id: 'p', apis: ['openai'] }],
      subscriptions: [
        { id: 'team-a', key: 'key-team-a-1', product: 'p' },
        { id: 'team-b', key: 'key-team-b-2', product: 'p' },
      ],
    });
    const dir = mkdtempSync(join(tmpdir(), 'tokenmeter-grafana-'));
    const port = await freePort();
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tokenmeter\n    static_configs:\n      - targets: ['${new URL(gw.url).host}']\n`,
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
    const base = `http://127.0.0.1:${port}`;
    try {
      // Two subscriptions, two models (both priced), streamed and not, and one answer whose usage
      // cannot be read (the simulator's invalid-json), so the gateway estimates it.
      const calls: [string, string, boolean, string?][] = [
        ['key-team-a-1', 'gpt-4o-mini', false],
        ['key-team-a-1', 'gpt-4o', true],
        ['key-team-b-2', 'gpt-4o-mini', false],
        ['key-team-b-2', 'gpt-4o-mini', false, 'invalid-json'],
      ];
      const send = async ([key, model, stream, fail]: (typeof calls)[number]): Promise<void> => {
        const res = await fetch(`${gw.url}/openai/v1/chat/completions`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${key}`,
            'content-type': 'application/json',
            ...(fail !== undefined ? { 'x-simulator-fail': fail } : {}),
          },
          body: JSON.stringify({ model, messages: [{ role: 'user', content: 'count me' }], stream }),
        });
        await res.arrayBuffer();
      };
      for (const call of calls) await send(call);
      const rows = readLedgerRows(gw.ledgerPath);
      assert.equal(rows.length, calls.length);
      assert.ok(
        rows.some((r) => r.source === 'estimated'),
        'one record is estimated',
      );
      assert.ok(
        rows.every((r) => typeof r.cost === 'number' && r.cost > 0),
        'every record is priced',
      );

      // Wait (bounded) until Prometheus holds several scrapes that saw every call, so that rate()
      // over the window has two samples of every series; then send one more round so the counters
      // moved within the window too.
      let seen = 0;
      for (let i = 0; i < 60 && seen < calls.length; i++) {
        const answer = await query(base, 'sum(tokenmeter_requests_total)').catch(() => undefined);
        seen = Number(answer?.data?.result[0]?.value?.[1] ?? 0);
        if (seen < calls.length) await new Promise((r) => setTimeout(r, 500));
      }
      assert.equal(seen, calls.length, 'Prometheus scraped every call');
      for (const call of calls) await send(call);
      for (let i = 0; i < 60 && seen < 2 * calls.length; i++) {
        await new Promise((r) => setTimeout(r, 500));
        const answer = await query(base, 'sum(tokenmeter_requests_total)');
        seen = Number(answer.data?.result[0]?.value?.[1] ?? 0);
      }
      assert.equal(seen, 2 * calls.length, 'Prometheus scraped the second round');

      const fixed = { __rate_interval: '1m', __interval: '15s', __range: '5m', namespace: 'tokenmeter' };
      const variables = dashboard.templating.list.filter((v) => v.type === 'query');
      assert.deepEqual(variables.map((v) => v.name).sort(), ['model', 'subscription']);
      const choices: Record<string, string>[] = [{ ...fixed, subscription: '.*', model: '.*' }];
      const concrete: Record<string, string> = { ...fixed };
      for (const variable of variables) {
        const found = await labelValues(base, variable.definition ?? '', fixed);
        assert.ok(found.length > 0, `variable ${variable.name} has values`);
        concrete[variable.name] = `(${found.join('|')})`;
      }
      choices.push(concrete);
      // One subscription alone: the queries must still answer (team-b has the estimated call).
      choices.push({ ...concrete, subscription: 'team-b' });

      const targets = dashboard.panels.flatMap((p) =>
        (p.targets ?? []).map((t) => ({ panel: p.title, ...t })),
      );
      assert.ok(targets.length >= 10, `the dashboard has its queries (${targets.length})`);
      for (const values of choices) {
        for (const target of targets) {
          const promql = expand(target.expr, values);
          const answer = await query(base, promql);
          const what = `${target.panel} [${target.refId}] with ${JSON.stringify(values)}: ${promql}`;
          assert.equal(answer.status, 'success', `${what}: ${answer.error ?? ''}`);
          assert.ok((answer.data?.result.length ?? 0) > 0, `${what}: no data`);
          for (const sample of answer.data?.result ?? []) {
            const value = Number(sample.value?.[1]);
            assert.ok(Number.isFinite(value), `${what}: ${sample.value?.[1]}`);
          }
        }
      }
      // The panels mean what they say: the estimated share is above 0 (one call in four), the
      // cost by subscription names both teams.
      const share = await query(
        base,
        expand(
          dashboard.panels.find((p) => p.title === 'Estimated share')?.targets?.[0]?.expr ?? '',
          choices[0]!,
        ),
      );
      const shareValue = Number(share.data?.result[0]?.value?.[1]);
      assert.ok(shareValue > 0 && shareValue < 1, `estimated share ${shareValue}`);
      const costPanel = dashboard.panels.find((p) => p.title === 'Cost by subscription over the range');
      const cost = await query(base, expand(costPanel?.targets?.[0]?.expr ?? '', choices[0]!));
      assert.deepEqual(cost.data?.result.map((r) => r.metric.subscription).sort(), ['team-a', 'team-b']);
    } finally {
      prom.kill('SIGTERM');
      await gw.stop();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
