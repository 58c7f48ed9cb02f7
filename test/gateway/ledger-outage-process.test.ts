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

    // A long `user` (kept up to 1024 characters in the ledger) fills the ledger's WAL past the
    // limit within the test's calls, however the outbox batches them.
    async function chat(gw: GatewayProcess, stream: boolean, i: number): Promise<number> {
      const res = await fetch(`${gw.url}/openai/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': KEY },
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          stream,
          user: `${i}-${'u'.repeat(1000)}`,
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
        const calls = 80;
        for (let i = 0; i < calls; i++) assert.equal(await chat(gw, i % 2 === 0, i), 200);
        // The ledger is written by the outbox's worker: its failures show there, and the records
        // it could not ship wait in the outbox (docs/outbox.md).
        const deadline = Date.now() + 10_000;
        while ((await gauge(gw, 'tokenmeter_outbox_ship_failures_total')) === 0 && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 50));
        assert.ok((await gauge(gw, 'tokenmeter_outbox_ship_failures_total')) > 0, 'the ledger failed');
        const pending = await gauge(gw, 'tokenmeter_outbox_records_pending');
        assert.ok(pending > 0, `records wait in the outbox (${pending})`);
        const ready = (await (await fetch(`${gw.url}/readyz`)).json()) as { outbox?: { target?: string } };
        assert.equal(ready.outbox?.target, 'unreachable');
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
              (l) => String(l['outbox']).startsWith(`${gw.ledgerPath}.outbox`) && Number(l['pending']) > 0,
            ),
            gw.stderr(),
          );
        }
        assert.ok(existsSync(`${gw.ledgerPath}.outbox`), 'the outbox outlived the process');

        // Restart without the limit: the outbox ships what the last run left before the gateway
        // listens (start-up waits up to 2 s for it; the close below ships whatever is left).
        const restarted = await startGatewayProcess(withBackend(), { dir });
        const readyAgain = await fetch(`${restarted.url}/readyz`);
        assert.equal(readyAgain.status, 200);
        await restarted.stop();
        const rows = readLedgerRows(restarted.ledgerPath).filter((r) => !String(r['id']).startsWith('old-'));
        assert.equal(rows.length, calls, 'exactly one record per call');
        assert.equal(new Set(rows.map((r) => r['id'])).size, calls);
      });
    }
  },
);
