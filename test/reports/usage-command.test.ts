import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import { CliInputError } from '../../src/cli/cli-error.js';
import { addUsageCommand } from '../../src/cli/usage-command.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import type { UsageRow } from '../../src/reports/usage-query.js';
import { makeRecord, makeTempDir } from '../ledger/fixtures/records.js';
import { CLI } from '../helpers/paths.js';

const NOW = Date.UTC(2025, 5, 30, 12, 0);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface Run {
  out: string;
  configPaths: (string | undefined)[];
}

/** Runs `tokenmeter usage ARGS` in-process against `ledgerUrl`, capturing stdout. */
async function runUsage(ledgerUrl: string, args: string[]): Promise<Run> {
  const run: Run = { out: '', configPaths: [] };
  const program = new Command().exitOverride();
  addUsageCommand(
    program,
    (configPath) => {
      run.configPaths.push(configPath);
      return ledgerUrl;
    },
    { stdout: (text) => (run.out += text), now: () => NOW },
  );
  await program.parseAsync(['usage', ...args], { from: 'user' });
  return run;
}

const cliInput =
  (pattern: RegExp) =>
  (err: unknown): boolean =>
    err instanceof CliInputError &&
    err.exitCode === 2 &&
    !err.message.includes('\n') &&
    pattern.test(err.message);

describe('tokenmeter usage (in-process)', () => {
  let dir: string;
  let url: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    ({ dir, cleanup } = await makeTempDir());
    url = `sqlite:${join(dir, 'usage.db')}`;
    const ledger = createSqliteLedger(join(dir, 'usage.db'));
    await ledger.append(makeRecord({ id: '1', time: NOW - 2 * HOUR, model: 'gpt-4o', cost: 0.25 }));
    await ledger.append(makeRecord({ id: '2', time: NOW - 2 * HOUR + 60_000, model: 'gpt-4o-mini' }));
    await ledger.append(makeRecord({ id: '3', time: NOW - HOUR, subscription: 'team-b', model: 'gpt-4o' }));
    await ledger.append(makeRecord({ id: 'old', time: NOW - 40 * DAY, subscription: 'team-old' }));
    await ledger.close();
  });
  after(() => cleanup());

  it('groups by subscription over the last 30 days by default, as a table', async () => {
    const { out, configPaths } = await runUsage(url, []);
    assert.deepEqual(configPaths, [undefined]);
    const lines = out.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^subscription\s+requests\s+prompt/);
    assert.match(lines[2] ?? '', /^team-a\s+2\s+20\s/);
    assert.match(lines[3] ?? '', /^team-b\s+1\s+10\s/);
    assert.match(lines.at(-1) ?? '', /^TOTAL\s+3\s+30\s/);
    assert.doesNotMatch(out, /team-old/);
  });

  it('prints the JSON rows of DESIGN.md, with --config passed to the loader', async () => {
    const { out, configPaths } = await runUsage(url, [
      '--config',
      'x.yaml',
      '--by',
      'Subscription ID,model',
      '--format',
      'json',
    ]);
    assert.deepEqual(configPaths, ['x.yaml']);
    const rows = JSON.parse(out) as UsageRow[];
    assert.deepEqual(
      rows.map((r) => [r['subscription'], r['model'], r.requests, r.promptTokens, r.cost]),
      [
        ['team-a', 'gpt-4o', 1, 10, 0.25],
        ['team-a', 'gpt-4o-mini', 1, 10, null],
        ['team-b', 'gpt-4o', 1, 10, null],
      ],
    );
    assert.deepEqual(Object.keys(rows[0] ?? {}), [
      'subscription',
      'model',
      'requests',
      'promptTokens',
      'completionTokens',
      'totalTokens',
      'cachedTokens',
      'cacheWriteTokens',
      'reasoningTokens',
      'estimatedRequests',
      'partialRequests',
      'cost',
      'unpricedTokens',
      'unpricedRequests',
    ]);
  });

  it('filters, bounds and buckets: --where, --since, --until, --interval, --by repeated, csv', async () => {
    const args = ['--by', 'model', '--where', 'subscription=team-a', '--where', 'Subscription ID=team-b'];
    args.push(
      '--since',
      '2025-06-30T09:00Z',
      '--until',
      '2025-06-30T12:00Z',
      '--interval',
      '1h',
      '--format',
      'csv',
    );
    const { out } = await runUsage(url, args);
    assert.ok(out.endsWith('\r\n'));
    const lines = out
      .trimEnd()
      .split('\r\n')
      .map((l) => l.split(',').slice(0, 3).join(','));
    assert.deepEqual(lines, [
      'time,model,requests',
      '2025-06-30T10:00:00.000Z,gpt-4o,1',
      '2025-06-30T10:00:00.000Z,gpt-4o-mini,1',
      '2025-06-30T11:00:00.000Z,gpt-4o,1',
    ]);
    const since40d = await runUsage(url, ['--since', '41d', '--by', '', '--format', 'json']);
    assert.equal((JSON.parse(since40d.out) as UsageRow[])[0]?.requests, 4);
  });

  it('uses --ledger instead of the configuration', async () => {
    const run = await runUsage('sqlite:/nonexistent/never.db', ['--ledger', url, '--format', 'json']);
    assert.deepEqual(run.configPaths, []);
    assert.equal((JSON.parse(run.out) as UsageRow[]).length, 2);
  });

  it('prints an empty result for a ledger that does not exist yet, without creating it', async () => {
    const missing = join(dir, 'not-yet', 'ledger.db');
    assert.equal((await runUsage(`sqlite:${missing}`, ['--format', 'json'])).out, '[]\n');
    assert.match((await runUsage(`sqlite:${missing}`, [])).out, /no usage recorded/);
    assert.equal(existsSync(join(dir, 'not-yet')), false);
  });

  it('refuses bad input with a one-line CliInputError before opening the ledger', async () => {
    const untouched = `sqlite:${join(dir, 'untouched', 'x.db')}`;
    const cases: [string[], RegExp][] = [
      [['--by', 'no-such-dim'], /unknown dimension "no-such-dim"/],
      [['--by', "x'); drop table usage_records; --"], /unknown dimension/],
      [['--where', "x'); drop table usage_records; --=1"], /unknown dimension/],
      [['--where', 'subscription'], /invalid --where "subscription": expected DIM=VALUE/],
      [['--where', '=team-a'], /invalid --where/],
      [['--where', 'stream=maybe'], /stream/],
      [['--since', 'abc'], /invalid --since "abc": expected a duration like 30d, 12h/],
      [['--until', '2025-02-30'], /invalid --until "2025-02-30"/],
      [['--interval', '1w'], /invalid --interval "1w"/],
      [['--since', '1h', '--until', '2h'], /must be before --until/],
      [['--format', 'xml'], /invalid --format "xml"/],
    ];
    for (const [args, pattern] of cases) {
      await assert.rejects(runUsage(untouched, args), cliInput(pattern), args.join(' '));
    }
    assert.equal(existsSync(join(dir, 'untouched')), false);
  });

  it("turns ledger URL problems into CliInputError, and lets the loader's own errors through", async () => {
    await assert.rejects(runUsage('postgres://u:p@[db/tm', []), cliInput(/invalid PostgreSQL ledger URL/));
    await assert.rejects(runUsage('mysql://db', []), cliInput(/invalid ledger URL/));
    const notADb = join(dir, 'not-a-db.db');
    await writeFile(notADb, 'this is not an sqlite file, just some text that is long enough to be read');
    await assert.rejects(runUsage(`sqlite:${notADb}`, []), cliInput(/cannot open ledger/));
    const program = new Command().exitOverride();
    addUsageCommand(program, () => {
      throw new CliInputError('tokenmeter.yaml:3: ledger: must be sqlite:PATH');
    });
    await assert.rejects(program.parseAsync(['usage'], { from: 'user' }), cliInput(/tokenmeter\.yaml:3/));
  });
});

/** Runs the real `tokenmeter usage` process; resolves with its exit code and output. */
function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'usage', ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('tokenmeter usage (process) with hostile user and model values', () => {
  // What a client can put in `user` or `model`: terminal escapes, forged rows, bidi overrides,
  // C1 controls, spreadsheet formulas.
  const users = [
    'team-a\x1b[2J\x1b[H',
    'evil\nTOTAL  999',
    '=HYPERLINK("http://evil.example","click")',
    '+cmd|/c calc',
    '-2+3',
    '@SUM(A1:A9)',
    '\u202Eexe.gnp',
  ];
  const models = [
    'gpt-4o\x1b]0;pwned\x07',
    'csi\u009b2J',
    '\tgpt',
    'm\rX',
    'ok-model',
    'x;=1+1',
    'del\u007f',
  ];
  let dir: string;
  let url: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    ({ dir, cleanup } = await makeTempDir());
    url = `sqlite:${join(dir, 'hostile.db')}`;
    const ledger = createSqliteLedger(join(dir, 'hostile.db'));
    const now = Date.now();
    for (const [i, user] of users.entries())
      await ledger.append(makeRecord({ id: `h${i}`, time: now - 60_000, user, model: models[i] ?? 'm' }));
    await ledger.close();
  });
  after(() => cleanup());

  const args = (format: string): string[] => ['--ledger', url, '--by', 'user,model', '--format', format];

  it('table: each value escaped on its own line', async () => {
    const { code, stdout, stderr } = await runCli(args('table'));
    assert.equal(code, 0, stderr);
    const lines = stdout.trimEnd().split('\n');
    assert.equal(lines.length, users.length + 4, stdout);
    for (const line of lines) assert.doesNotMatch(line, /[\p{Cc}\p{Cf}]/u, JSON.stringify(line));
    assert.ok(
      lines.some((l) => l.startsWith('team-a\\x1b[2J\\x1b[H ') && l.includes('gpt-4o\\x1b]0;pwned\\x07')),
    );
    assert.ok(lines.some((l) => l.startsWith('evil\\nTOTAL  999 ')));
    assert.ok(lines.some((l) => l.startsWith('\\u{202e}exe.gnp ')));
    assert.equal(lines.filter((l) => l.startsWith('TOTAL')).length, 1);
  });

  it('csv: formula cells neutralised, one record per row', async () => {
    const { code, stdout, stderr } = await runCli(args('csv'));
    assert.equal(code, 0, stderr);
    assert.ok(stdout.includes(`"'=HYPERLINK(""http://evil.example"",""click"")"`), stdout);
    for (const expected of ["'+cmd|/c calc", "'-2+3", "'@SUM(A1:A9)", `"'\tgpt"`, '"x;=1+1"'])
      assert.ok(stdout.includes(expected), expected);
    // A header and one record per row; the CR inside "m\rX" is quoted, not a record break.
    assert.equal(stdout.match(/\r\n/g)?.length, users.length + 1);
    assert.ok(stdout.includes('"m\rX"'));
    for (const line of stdout.split('\r\n').slice(1, -1)) assert.doesNotMatch(line, /^[=+\-@\t]/);
  });

  it('json: the exact values', async () => {
    const { code, stdout, stderr } = await runCli(args('json'));
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stdout.replaceAll('\n', ''), /[\p{Cc}\p{Cf}]/u);
    const rows = JSON.parse(stdout) as UsageRow[];
    assert.deepEqual(
      rows.map((r) => [r['user'], r['model']]).sort(),
      users.map((u, i) => [u, models[i]]).sort(),
    );
  });
});
