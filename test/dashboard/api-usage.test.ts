import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import { addReportCommand } from '../../src/cli/report-command.js';
import { addUsageCommand } from '../../src/cli/usage-command.js';
import { CliInputError } from '../../src/cli/cli-error.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { makeRecord } from '../ledger/fixtures/records.js';
import { ADMIN_KEY, errorOf, getJson, JAN, startFixture, TEAM_A_KEY, type Fixture } from './api-fixture.js';

/** `tokenmeter usage ARGS --format json` in-process against the fixture's configuration. */
async function cliUsage(fixture: Fixture, args: string[]): Promise<unknown> {
  let out = '';
  const program = new Command().exitOverride();
  addUsageCommand(program, () => ({ url: fixture.config.ledger, customDimensions: ['team'] }), {
    stdout: (t) => (out += t),
  });
  await program.parseAsync(['usage', ...args, '--format', 'json'], { from: 'user' });
  return JSON.parse(out);
}

async function cliReport(fixture: Fixture, args: string[]): Promise<unknown> {
  let out = '';
  const program = new Command().exitOverride();
  addReportCommand(program, { stdout: (t) => (out += t) });
  await program.parseAsync(['report', '--config', fixture.configPath, ...args, '--format', 'json'], {
    from: 'user',
  });
  return JSON.parse(out);
}

describe('GET /api/usage, /api/dimensions, /api/report (admin key)', () => {
  let fx: Fixture;
  before(async () => {
    fx = await startFixture();
  });
  after(() => fx.close());

  const api = (path: string): Promise<{ status: number; body: unknown }> =>
    getJson(`${fx.url}${path}`, ADMIN_KEY);

  it('answers exactly the rows of tokenmeter usage --format json for the same arguments', async () => {
    const cases: [string, string[]][] = [
      ['', []],
      ['?since=2026-01-01&until=2026-02-01', ['--since', '2026-01-01', '--until', '2026-02-01']],
      ['?by=model,stream&since=2026-01-01', ['--by', 'model,stream', '--since', '2026-01-01']],
      ['?by=model&by=team&since=2026-01-01', ['--by', 'model', '--by', 'team', '--since', '2026-01-01']],
      [
        '?by=Subscription%20ID&interval=1d&since=2026-01-09&until=2026-01-12',
        ['--by', 'Subscription ID', '--interval', '1d', '--since', '2026-01-09', '--until', '2026-01-12'],
      ],
      ['?by=&since=2026-01-01', ['--by', '', '--since', '2026-01-01']],
      [
        '?by=model&where=subscription:team-a&where=subscription:team-b&since=2026-01-01',
        [
          '--by',
          'model',
          '--where',
          'subscription=team-a',
          '--where',
          'subscription=team-b',
          '--since',
          '2026-01-01',
        ],
      ],
      [
        '?by=subscription&where=team:&since=2026-01-01',
        ['--by', 'subscription', '--where', 'team=', '--since', '2026-01-01'],
      ],
      [
        '?by=model&where=priced:false&where=stream:false&since=2026-01-01',
        ['--by', 'model', '--where', 'priced=false', '--where', 'stream=false', '--since', '2026-01-01'],
      ],
      [
        '?by=model&where=model:a:b&since=2026-01-01',
        ['--by', 'model', '--where', 'model=a:b', '--since', '2026-01-01'],
      ],
      ['?since=12h', ['--since', '12h']],
    ];
    for (const [query, args] of cases) {
      const res = await api(`/api/usage${query}`);
      assert.equal(res.status, 200, query);
      assert.deepEqual(res.body, await cliUsage(fx, args), query);
    }
    // The fixture has data: the comparisons above compared something.
    const all = (await api('/api/usage?since=2026-01-01')).body as { subscription: string }[];
    assert.deepEqual(
      all.map((r) => r.subscription),
      ['team-a', 'team-b', 'team-c'],
    );
  });

  it('refuses each bad parameter with 400 naming it, and the CLI refuses the same limits (exit 2)', async () => {
    const long = 'x'.repeat(257);
    const manyWhere = Array.from({ length: 51 }, (_, i) => `where=model:m${i}`).join('&');
    const cases: [string, string][] = [
      ['by=nosuchdim', 'by'],
      ['by=bad-name!', 'by'],
      ['by=a,b,c,d,e,f', 'by'],
      [`by=${long}`, 'by'],
      ['by=requests', 'by'],
      ['since=yesterday', 'since'],
      ['since=2026-02-30', 'since'],
      ['until=soon', 'until'],
      ['since=2026-02-01&until=2026-01-01', 'until'],
      ['since=2026-01-01&until=2026-01-01', 'until'],
      ['interval=often', 'interval'],
      ['interval=1m&since=30d', 'interval'],
      ['interval=1m&since=2020-01-01&until=2026-01-01', 'interval'],
      ['where=model', 'where'],
      ['where=:x', 'where'],
      ['where=nosuchdim:x', 'where'],
      ['where=stream:maybe', 'where'],
      ['where=priced:maybe', 'where'],
      [`where=model:${long}`, 'where'],
      [manyWhere, 'where'],
      ['untill=2026-01-01', 'untill'],
      ['since=1d&since=2d', 'since'],
      ['interval=1h&interval=1d', 'interval'],
    ];
    for (const [query, param] of cases) {
      const res = await api(`/api/usage?${query}`);
      assert.equal(res.status, 400, query);
      assert.deepEqual(errorOf(res.body), { code: 'TM_USAGE_ARGS', param }, query);
    }
    const cliRefuses = async (args: string[]): Promise<void> => {
      await assert.rejects(
        cliUsage(fx, args),
        (err: unknown) => err instanceof CliInputError && err.exitCode === 2,
      );
    };
    await cliRefuses(['--by', 'a,b,c,d,e,f']);
    await cliRefuses(['--where', `model=${long}`]);
    await cliRefuses(Array.from({ length: 51 }, (_, i) => ['--where', `model=m${i}`]).flat());
    await cliRefuses(['--interval', '1m', '--since', '30d']);
  });

  it('lists the dimensions: the 13 canonical keys with APIM names, then the custom ones', async () => {
    const res = await api('/api/dimensions');
    assert.equal(res.status, 200);
    const { dimensions } = res.body as { dimensions: { name: string; label: string; custom?: boolean }[] };
    assert.equal(dimensions.filter((d) => d.custom !== true).length, 13);
    assert.deepEqual(dimensions[4], { name: 'subscription', label: 'Subscription ID' });
    assert.deepEqual(
      dimensions.find((d) => d.name === 'model'),
      { name: 'model', label: 'model' },
    );
    assert.deepEqual(
      dimensions.filter((d) => d.custom === true),
      [
        { name: 'custom.subscription', label: 'subscription', custom: true },
        { name: 'team', label: 'team', custom: true },
      ],
    );
  });

  it('lists the values of one dimension in the range and filters', async () => {
    const models = await api('/api/dimensions?name=model&since=2026-01-01&until=2026-02-01');
    assert.deepEqual(models.body, {
      name: 'model',
      values: ['claude-sonnet', 'gemini-pro', 'gpt-4o', 'gpt-4o-mini'],
      truncated: false,
    });
    const filtered = await api('/api/dimensions?name=Subscription%20ID&where=model:gpt-4o&since=2026-01-01');
    assert.deepEqual(filtered.body, { name: 'subscription', values: ['team-a', 'team-b'], truncated: false });
    const teams = await api('/api/dimensions?name=team&since=2026-01-01');
    assert.deepEqual(teams.body, {
      name: 'team',
      values: [null, 'ads', 'search', 'secret-project'],
      truncated: false,
    });
    const cases: [string, string][] = [
      ['name=nosuchdim', 'name'],
      ['name=a&name=b', 'name'],
      ['name=model&where=model', 'where'],
      ['name=model&since=never', 'since'],
      ['name=model&by=model', 'by'],
    ];
    for (const [query, param] of cases) {
      const res = await api(`/api/dimensions?${query}`);
      assert.equal(res.status, 400, query);
      assert.deepEqual(errorOf(res.body), { code: 'TM_USAGE_ARGS', param }, query);
    }
  });

  it('answers the monthly report as tokenmeter report --format json', async () => {
    for (const [query, args] of [
      ['month=2026-01', ['--month', '2026-01']],
      ['month=2026-01&by=model', ['--month', '2026-01', '--by', 'model']],
      ['month=2026-01&by=team', ['--month', '2026-01', '--by', 'team']],
      ['month=2025-06', ['--month', '2025-06']],
    ] as const) {
      const res = await api(`/api/report?${query}`);
      assert.equal(res.status, 200, query);
      assert.deepEqual(res.body, await cliReport(fx, [...args]), query);
    }
    const cases: [string, string][] = [
      ['', 'month'],
      ['month=2026-13', 'month'],
      ['month=2026-01&by=nosuchdim', 'by'],
      ['month=2026-01&by=a,b', 'by'],
      ['month=2026-01&format=csv', 'format'],
    ];
    for (const [query, param] of cases) {
      const res = await api(`/api/report?${query}`);
      assert.equal(res.status, 400, query);
      assert.deepEqual(errorOf(res.body), { code: 'TM_USAGE_ARGS', param }, query);
    }
  });

  it('is read-only and answers only its endpoints', async () => {
    for (const path of ['/api/usage', '/api/session', '/api/dimensions', '/api/report?month=2026-01']) {
      const res = await fetch(`${fx.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      });
      assert.equal(res.status, 405, path);
      assert.equal(res.headers.get('allow'), 'GET, HEAD');
      assert.equal(errorOf(await res.json()).code, 'TM_METHOD_NOT_ALLOWED');
    }
    const missing = await api('/api/nothing');
    assert.equal(missing.status, 404);
    const session = await api('/api/session');
    assert.deepEqual(session.body, { role: 'admin', currency: 'USD' });
    assert.equal(errorOf((await api('/api/session?x=1')).body).param, 'x');
  });
});

describe('GET /api/dimensions?name= on a dimension with more than 1,000 values', () => {
  let fx: Fixture;
  before(async () => {
    fx = await startFixture({
      before: async (ledgerPath) => {
        const ledger = createSqliteLedger(ledgerPath);
        for (let i = 0; i <= 1000; i++)
          await ledger.append(
            makeRecord({
              id: `many-${i}`,
              time: JAN,
              subscription: 'team-b',
              model: `m${String(i).padStart(4, '0')}`,
            }),
          );
        await ledger.close();
      },
    });
  });
  after(() => fx.close());

  it('shows the first 1,000 and says the list was cut', async () => {
    const res = await getJson(`${fx.url}/api/dimensions?name=model&since=2026-01-01`, ADMIN_KEY);
    const body = res.body as { values: string[]; truncated: boolean };
    assert.equal(body.values.length, 1000);
    assert.equal(body.truncated, true);
    assert.equal(body.values[0], 'claude-sonnet');
    // team-a's own models are few: its list is whole.
    const team = await getJson(`${fx.url}/api/dimensions?name=model&since=2026-01-01`, TEAM_A_KEY);
    assert.deepEqual(team.body, { name: 'model', values: ['gpt-4o', 'gpt-4o-mini'], truncated: false });
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    const res = await fetch(`${fx.url}/api/usage`, {
      method: 'HEAD',
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(await res.text(), '');
  });
});
