import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { readLedgerRows } from '../helpers/ledger-rows.js';
import { makeRecord } from '../ledger/fixtures/records.js';

const KEY = 'team-a-key-123';
/**
 * The ledger runs into a real write failure: the gateway runs under a file size limit
 * (RLIMIT_FSIZE; Node ignores SIGXFSZ, so writes past it fail with EFBIG, as they fail with
 * ENOSPC on a full disk), and its ledger file is already larger than the limit. The WAL fills up
 * to the limit and cannot be checkpointed into the file's end: the ledger stays unwritable, while
 * the small journal can still be written.
 */
const FILE_LIMIT = 64 * 1024;
const hasPrlimit = spawnSync('prlimit', ['--version']).status === 0;

describe(
  'a tokenmeter serve process whose ledger cannot write',
  { skip: !hasPrlimit && 'needs prlimit (util-linux)' },
  () => {
    let sim: Simulator;
    before(async () => (sim = await startSimulator({ completionTokens: 4 })));
    after(() => sim.close());

    const config = {
      apis: [{ id: 'openai', path: '/openai/v1', type: 'openai', backend: 'sim' }],
      products: [{ id: 'std', apis: ['openai'] }],
      subscriptions: [{ id: 'team-a', key: KEY, product: 'std' }],
    };

    /** A gateway directory whose ledger file is already larger than FILE_LIMIT. */
    async function prepare(): Promise<string> {
      const dir = mkdtempSync(join(tmpdir(), 'tokenmeter-outage-'));
      const ledger = createSqliteLedger(join(dir, 'ledger.db'));
      await Promise.all(
        Array.from({ length: 400 }, (_, i) =>
          ledger.append(makeRecord({ id: `old-${i}`, time: 1_600_000_000_000 + i, user: 'u'.repeat(400) })),
        ),
      );
      await ledger.close();
      assert.ok(statSync(join(dir, 'ledger.db')).size > FILE_LIMIT);
      return dir;
    }

    async function chat(gw: GatewayProcess, stream: boolean): Promise<number> {
      const res = await fetch(`${gw.url}/openai/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': KEY },
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          stream,
          messages: [{ role: 'user', content: 'hello' }],
        }),
      });
      await res.arrayBuffer();
      return res.status;
    }

    async function gauge(gw: GatewayProcess, name: string): Promise<number> {
      const text = await (await fetch(`${gw.url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${name} `));
      return Number(line?.split(' ')[1]);
    }

    const withBackend = (): Record<string, unknown> => ({
      ...config,
      backends: [{ id: 'sim', type: 'openai', url: `${sim.url}/v1`, apiKey: 'sk-backend' }],
    });

    for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
      it(`${signal} during the outage, restart: exactly one record per call`, async () => {
        const dir = await prepare();
        const gw = await startGatewayProcess(withBackend(), {
          dir,
          wrapper: ['prlimit', `--fsize=${FILE_LIMIT}`],
        });
        const calls = 24;
        for (let i = 0; i < calls; i++) assert.equal(await chat(gw, i % 2 === 0), 200);
        assert.equal(await gauge(gw, 'tokenmeter_ledger_writable'), 0, 'the ledger failed');
        const inJournal = await gauge(gw, 'tokenmeter_ledger_journal_pending');
        assert.ok(inJournal > 0, `records went to the journal (${inJournal})`);
        await gw.kill(signal);
        if (signal === 'SIGTERM') {
          // The stop says how many records wait and where (pino JSON lines on stderr).
          const lines = gw
            .stderr()
            .split('\n')
            .filter((l) => l.startsWith('{'))
            .map((l) => JSON.parse(l) as Record<string, unknown>);
          assert.ok(
            lines.some(
              (l) => l['journal'] === `${gw.ledgerPath}.journal` && Number(l['records']) >= inJournal,
            ),
            gw.stderr(),
          );
        }
        assert.ok(
          existsSync(`${gw.ledgerPath}.journal`) || existsSync(`${gw.ledgerPath}.journal.importing`),
          'the journal outlived the process',
        );

        // Restart without the limit: the journal is imported before the gateway listens.
        const restarted = await startGatewayProcess(withBackend(), { dir });
        const rows = readLedgerRows(restarted.ledgerPath).filter((r) => !String(r['id']).startsWith('old-'));
        assert.equal(rows.length, calls, 'exactly one record per call');
        assert.equal(new Set(rows.map((r) => r['id'])).size, calls);
        assert.equal(existsSync(`${gw.ledgerPath}.journal`), false);
        const ready = await fetch(`${restarted.url}/readyz`);
        assert.equal(ready.status, 200);
        await restarted.stop();
      });
    }
  },
);
