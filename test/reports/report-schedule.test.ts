import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { configSchema, type Config } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { silent, startWebhookReceiver, type WebhookReceiver } from '../budgets/budget-helpers.js';
import { makeRecord, makeTempDir } from '../ledger/fixtures/records.js';
import { startMailServer, type MailServer } from './delivery-helpers.js';

/** `reports.schedule: monthly`: two gateways sharing a ledger send last month's reports once. */

function scheduleConfig(ledgerPath: string, smtpPort: number, webhook: string): Config {
  return configSchema.parse({
    ledger: `sqlite:${ledgerPath}`,
    backends: [{ id: 'sim', type: 'simulator' }],
    apis: [{ id: 'openai', path: '/openai/v1', type: 'openai', backend: 'sim' }],
    products: [{ id: 'p', apis: ['openai'] }],
    subscriptions: [
      { id: 'team-a', key: 'team-a-secret', product: 'p', owner: 'a@example.com' },
      { id: 'team-b', key: 'team-b-secret', product: 'p', owner: 'b@example.com' },
    ],
    smtp: { host: '127.0.0.1', port: smtpPort, from: 'tm@example.com' },
    reports: { timezone: 'Europe/Berlin', webhook, schedule: 'monthly' },
  });
}

describe('reports.schedule: monthly', () => {
  let cleanup: () => Promise<void>;
  let mail: MailServer;
  let hook: WebhookReceiver;
  let config: Config;
  const gateways: Gateway[] = [];

  before(async () => {
    let dir: string;
    ({ dir, cleanup } = await makeTempDir());
    mail = await startMailServer();
    hook = await startWebhookReceiver();
    const ledgerPath = join(dir, 'ledger.db');
    config = scheduleConfig(ledgerPath, mail.port, hook.url);
    const ledger = createSqliteLedger(ledgerPath);
    for (const team of ['team-a', 'team-b'])
      await ledger.append(makeRecord({ id: team, time: Date.UTC(2026, 2, 15), subscription: team }));
    await ledger.close();
  });
  after(async () => {
    await Promise.all(gateways.map((g) => g.close()));
    await mail.close();
    await hook.close();
    await cleanup();
  });

  async function start(clock: () => number): Promise<Gateway> {
    // checkMs far beyond the test: every check runs at start-up or through check().
    const gw = await startGateway(config, {
      port: 0,
      logger: silent,
      reports: { clock, checkMs: 3_600_000 },
    });
    gateways.push(gw);
    return gw;
  }

  it('sends nothing before the 1st, then once across two gateways on the 1st (in reports.timezone)', async () => {
    // 2026-03-31 21:00 UTC is still March 31 in Berlin (UTC+2 since March 29).
    let now = Date.UTC(2026, 2, 31, 21);
    const clock = (): number => now;
    const [first, second] = [await start(clock), await start(clock)];
    await Promise.all([first?.reportSchedule?.check(), second?.reportSchedule?.check()]);
    assert.equal(mail.mails.length, 0);
    assert.equal(hook.attempts, 0);

    // 22:30 UTC is 00:30 on April 1 in Berlin: March is due.
    now = Date.UTC(2026, 2, 31, 22, 30);
    await Promise.all([first?.reportSchedule?.check(), second?.reportSchedule?.check()]);
    await Promise.all([first?.reportSchedule?.check(), second?.reportSchedule?.check()]);
    assert.deepEqual(mail.mails.map((m) => m.to).sort(), ['a@example.com', 'b@example.com']);
    assert.equal(hook.received.length, 1);
    assert.equal((hook.received[0] as { month?: string }).month, '2026-03');

    // A third gateway started later on the 1st finds every delivery recorded.
    const third = await start(clock);
    await third.reportSchedule?.check();
    assert.equal(mail.mails.length, 2);
    assert.equal(hook.attempts, 1);
  });
});
