import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { SYNTHETIC_MODELS } from '../../src/synthetic/synthetic-models.js';
import { CLI } from '../helpers/paths.js';

function run(args: string[], cwd?: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd, timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const BASE = [
  'gateway: { id: gw-test, location: northeurope }',
  'backends: [{ id: b, type: openai, url: "http://127.0.0.1:9/v1" }]',
  'apis: [{ id: openai, path: /openai/v1, type: openai, backend: b }]',
];

/** A directory with a config (whose ledger is `ledger` when given) and the config's path. */
function setUp(ledger?: string): { dir: string; config: string; db: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tm-generate-'));
  const db = join(dir, 'ledger.db');
  const config = join(dir, 'tokenmeter.yaml');
  writeFileSync(config, [...(ledger === undefined ? [] : [`ledger: ${ledger}`]), ...BASE].join('\n'));
  return { dir, config, db };
}

test('ledger generate writes exactly N records, progress lines on a non-terminal, one summary', async () => {
  const { dir, config, db } = setUp('sqlite:./ledger.db');
  const res = run(
    ['ledger', 'generate', '--config', config, '--records', '5000', '--days', '7', '--subscriptions', '4'],
    dir,
  );
  assert.equal(res.status, 0, res.stderr);
  const progress = res.stderr.trim().split('\n');
  // About one line per 10 % (batches of 4,000 cross several steps at once), never a redraw.
  assert.ok(progress.length >= 2 && progress.length <= 11, res.stderr);
  assert.ok(progress.every((l) => /^generating records: [\d,]+\/5,000 /.test(l)));
  assert.match(progress.at(-1) ?? '', /5,000\/5,000 100%/);
  assert.ok(!res.stderr.includes('\r') && !res.stderr.includes('\u001b'), 'no terminal redraws');
  assert.match(
    res.stdout,
    /^generated 5,000 records \(7 days, 4 subscriptions, 5 models, seed 1\) into .* records\/s\)\n$/,
  );

  const ledger = createSqliteLedger(db);
  try {
    assert.equal(await ledger.count(), 5000);
    const rows = await ledger.query({ by: ['subscription', 'gateway', 'location'], where: [] });
    assert.deepEqual(
      rows.map((r) => [r.subscription, r.gateway, r.location]),
      ['team-01', 'team-02', 'team-03', 'team-04'].map((s) => [s, 'gw-test', 'northeurope']),
    );
  } finally {
    await ledger.close();
  }
  // --ledger overrides the configuration's.
  const other = run(
    [
      'ledger',
      'generate',
      '--config',
      config,
      '--ledger',
      'sqlite:./other.db',
      '--records',
      '10',
      '--days',
      '1',
      '--subscriptions',
      '1',
      '--models',
      '1',
    ],
    dir,
  );
  assert.equal(other.status, 0, other.stderr);
  const second = createSqliteLedger(join(dir, 'other.db'));
  try {
    assert.equal(await second.count(), 10);
  } finally {
    await second.close();
  }
});

test('bad input exits 2 with one clear line and writes nothing', () => {
  const { dir, config } = setUp('sqlite:./ledger.db');
  const ok = ['--config', config, '--records', '100', '--days', '7', '--subscriptions', '4'];
  const withOption = (name: string, value: string) => {
    const args = [...ok];
    const at = args.indexOf(name);
    if (at >= 0) args[at + 1] = value;
    else args.push(name, value);
    return args;
  };
  const cases: [string[], RegExp][] = [
    [withOption('--records', '0'), /--records "0"/],
    [withOption('--records', '-5'), /--records "-5"/],
    [withOption('--records', '1.5'), /--records "1.5"/],
    [withOption('--records', 'many'), /--records "many"/],
    [withOption('--days', '0'), /--days "0"/],
    [withOption('--days', '9999'), /--days "9999"/],
    [withOption('--subscriptions', '0'), /--subscriptions "0"/],
    [withOption('--subscriptions', 'ten'), /--subscriptions "ten"/],
    [withOption('--models', '0'), /--models "0"/],
    [withOption('--models', String(SYNTHETIC_MODELS.length + 1)), /--models "\d+".*from 1 to \d+/],
    [withOption('--seed', '-1'), /--seed "-1"/],
    [withOption('--ledger', 'postgres://u:p@127.0.0.1:5432/tm'), /SQLite ledger only/],
    [withOption('--ledger', 'sqlite::memory:'), /in-memory/],
    [withOption('--ledger', 'mysql://x'), /invalid ledger URL/],
    [withOption('--config', join(dir, 'missing.yaml')), /config file not found/],
    [ok.filter((a) => a !== '--days' && a !== '7'), /--days/],
  ];
  for (const [args, message] of cases) {
    const res = run(['ledger', 'generate', ...args], dir);
    assert.equal(res.status, 2, `${args.join(' ')}: ${res.stderr}`);
    assert.match(res.stderr, message, args.join(' '));
    assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
    assert.equal(res.stdout, '');
  }
  assert.deepEqual(readdirSync(dir), ['tokenmeter.yaml'], 'no ledger file was created');

  // A configuration that names no ledger: refused rather than filling ./tokenmeter.db.
  const bare = setUp();
  const res = run(
    ['ledger', 'generate', '--config', bare.config, '--records', '10', '--days', '1', '--subscriptions', '1'],
    bare.dir,
  );
  assert.equal(res.status, 2, res.stderr);
  assert.match(res.stderr, /names no ledger/);
  assert.equal(existsSync(join(bare.dir, 'tokenmeter.db')), false);
});
