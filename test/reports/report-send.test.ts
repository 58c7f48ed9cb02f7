import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import { addReportCommand } from '../../src/cli/report-command.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { startWebhookReceiver, type WebhookReceiver } from '../budgets/budget-helpers.js';
import { makeRecord, makeTempDir } from '../ledger/fixtures/records.js';
import { startMailServer, type MailServer, type ReceivedMail } from './delivery-helpers.js';

/** `tokenmeter report --send`: real SMTP server and webhook receiver on port 0, a real ledger. */

const TEAMS = ['team-a', 'team-b', 'team-c', 'team-d'];
const OWNERS: Record<string, string> = {
  'team-a': 'a@example.com',
  'team-b': 'b@example.com',
  'team-c': 'c@example.com',
};
const PASSWORD = 's3cret-smtp-pass';

function configText(ledgerPath: string, smtpPort: number | undefined, webhook: string | undefined): string {
  return [
    `ledger: sqlite:${ledgerPath}`,
    'backends: [{ id: sim, type: simulator }]',
    'apis: [{ id: openai, path: /openai/v1, type: openai, backend: sim }]',
    'products: [{ id: std, apis: [openai] }]',
    'subscriptions:',
    ...TEAMS.map((id) => {
      const owner = OWNERS[id];
      return `  - { id: ${id}, key: ${id}-secret, product: std${owner !== undefined ? `, owner: ${owner}` : ''} }`;
    }),
    ...(smtpPort !== undefined
      ? [
          'smtp:',
          '  host: 127.0.0.1',
          `  port: ${smtpPort}`,
          '  from: "tokenmeter <tm@example.com>"',
          '  user: tm',
          `  pass: ${PASSWORD}`,
        ]
      : []),
    ...(webhook !== undefined ? [`reports: { webhook: "${webhook}" }`] : []),
    '',
  ].join('\n');
}

interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

async function run(args: string[]): Promise<RunResult> {
  const out = { stdout: '', stderr: '' };
  const program = new Command().exitOverride();
  addReportCommand(program, { stdout: (t) => (out.stdout += t), stderr: (t) => (out.stderr += t) });
  try {
    await program.parseAsync(['report', ...args], { from: 'user' });
    return { exitCode: 0, ...out };
  } catch (err) {
    const code = (err as { exitCode?: unknown }).exitCode;
    if (typeof code !== 'number') throw err;
    return { exitCode: code, ...out };
  }
}

function othersOf(team: string): string[] {
  return TEAMS.filter((t) => t !== team);
}

/** The html body and the csv attachment of a mail. */
function htmlAndCsv(mail: ReceivedMail): { html: string; csv: string } {
  const html = mail.parts.find((p) => p.contentType === 'text/html')?.body;
  const csv = mail.parts.find((p) => p.filename?.endsWith('.csv') === true)?.body;
  assert.ok(html !== undefined && csv !== undefined, 'the mail has an html body and a csv attachment');
  return { html, csv };
}

describe('tokenmeter report --send', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let mail: MailServer;
  let hook: WebhookReceiver;
  let ledgerPath: string;
  let config: string;

  before(async () => {
    ({ dir, cleanup } = await makeTempDir());
    mail = await startMailServer();
    hook = await startWebhookReceiver();
    ledgerPath = join(dir, 'ledger.db');
    config = join(dir, 'tokenmeter.yaml');
    await writeFile(config, configText(ledgerPath, mail.port, hook.url));
    const ledger = createSqliteLedger(ledgerPath);
    for (const [i, team] of TEAMS.entries())
      for (const month of [2, 3])
        await ledger.append(
          makeRecord({ id: `${team}-${month}`, time: Date.UTC(2026, month, 10 + i), subscription: team }),
        );
    await ledger.close();
  });
  after(async () => {
    await mail.close();
    await hook.close();
    await cleanup();
  });

  it('e-mails each owner only their own team, posts every row once, then sends nothing again', async () => {
    const first = await run(['--month', '2026-03', '--config', config, '--send']);
    assert.equal(first.exitCode, 0, first.stderr);
    assert.deepEqual(mail.mails.map((m) => m.to).sort(), Object.values(OWNERS).sort());
    for (const [team, owner] of Object.entries(OWNERS)) {
      const received = mail.mails.find((m) => m.to === owner);
      assert.ok(received !== undefined);
      const { html, csv } = htmlAndCsv(received);
      assert.ok(html.includes(team) && csv.includes(team), `${owner} sees ${team}`);
      for (const other of othersOf(team))
        assert.ok(!html.includes(other) && !csv.includes(other), `${owner} does not see ${other}`);
    }
    assert.match(first.stdout, /team-d/, 'the subscription without an owner is listed as skipped');
    assert.equal(hook.received.length, 1);
    const body = hook.received[0] as { month: string; rows: Array<{ subscription: string }> };
    assert.equal(body.month, '2026-03');
    assert.deepEqual(body.rows.map((r) => r.subscription).sort(), TEAMS);

    const second = await run(['--month', '2026-03', '--config', config, '--send']);
    assert.equal(second.exitCode, 0);
    assert.match(second.stdout, /already sent/);
    assert.equal(mail.mails.length, 3);
    assert.equal(hook.attempts, 1);

    const forced = await run(['--month', '2026-03', '--config', config, '--send', '--force']);
    assert.equal(forced.exitCode, 0, forced.stderr);
    assert.equal(mail.mails.length, 6);
    assert.equal(hook.received.length, 2);
  });

  it('reports failed deliveries per recipient, exits 1, marks nothing sent, and retries only those', async () => {
    mail.mails.length = 0;
    hook.received.length = 0;
    hook.attempts = 0;
    // An SMTP port nobody listens on, and a webhook that fails: nothing goes out.
    const down = await startMailServer();
    await down.close();
    const downConfig = join(dir, 'down.yaml');
    await writeFile(downConfig, configText(ledgerPath, down.port, hook.url));
    hook.failing = true;
    const unreachable = await run(['--month', '2026-04', '--config', downConfig, '--send']);
    assert.equal(unreachable.exitCode, 1);
    for (const team of Object.keys(OWNERS)) assert.match(unreachable.stderr, new RegExp(team));
    assert.match(unreachable.stderr, /webhook/);
    assert.ok(!unreachable.stderr.includes(PASSWORD) && !unreachable.stdout.includes(PASSWORD));
    assert.equal(mail.mails.length, 0);

    // The server is back but refuses team-b's owner; the webhook still fails.
    mail.rejecting.add('b@example.com');
    const partial = await run(['--month', '2026-04', '--config', config, '--send']);
    assert.equal(partial.exitCode, 1);
    assert.match(partial.stderr, /team-b/);
    assert.doesNotMatch(partial.stderr, /team-a|team-c/);
    assert.deepEqual(mail.mails.map((m) => m.to).sort(), ['a@example.com', 'c@example.com']);

    mail.rejecting.clear();
    hook.failing = false;
    const retry = await run(['--month', '2026-04', '--config', config, '--send']);
    assert.equal(retry.exitCode, 0, retry.stderr);
    assert.deepEqual(
      mail.mails.map((m) => m.to).sort(),
      ['a@example.com', 'b@example.com', 'c@example.com'],
      'only the failed e-mail was sent again',
    );
    assert.equal(hook.received.length, 1);
  });

  it('exits 2 when neither smtp nor reports.webhook is configured', async () => {
    const before = mail.mails.length;
    const bare = join(dir, 'bare.yaml');
    await writeFile(bare, configText(ledgerPath, undefined, undefined));
    const result = await run(['--month', '2026-03', '--config', bare, '--send']);
    assert.equal(result.exitCode, 2);
    assert.equal(mail.mails.length, before);
  });

  it('exits 2 for --send with --out, --by or --force without --send, sending nothing', async () => {
    const before = mail.mails.length;
    for (const args of [['--send', '--out', join(dir, 'r.md')], ['--send', '--by', 'model'], ['--force']]) {
      const result = await run(['--month', '2026-03', '--config', config, ...args]);
      assert.equal(result.exitCode, 2, args.join(' '));
    }
    assert.equal(mail.mails.length, before);
  });
});
