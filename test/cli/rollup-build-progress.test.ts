import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { showRollupBuild } from '../../src/cli/rollup-build-progress.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { runCli } from '../auth/keys-cli.js';
import { makeRecord } from '../ledger/fixtures/records.js';
import { downgradeToSchema6 } from '../ledger/fixtures/schema-6.js';

const DAY = 86_400_000;
const BASE = Date.UTC(2025, 2, 1);

describe('the rollup build on first open is shown', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tokenmeter-rollup-progress-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('usage on a ledger written before rollups builds them with progress on stderr and answers the same', async () => {
    const path = join(dir, 'old.db');
    const ledger = createSqliteLedger(path, { rollups: false });
    for (let i = 0; i < 40; i += 1)
      await ledger.append(
        makeRecord({ id: `r${i}`, time: BASE + i * (DAY / 4), subscription: `team-${i % 2}` }),
      );
    await ledger.close();
    downgradeToSchema6(path);

    const args = ['usage', '--ledger', `sqlite:${path}`, '--since', '2025-03-01', '--format', 'json'];
    const first = await runCli(args, dir);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stderr, /building usage rollups \(UTC days\)/);
    assert.match(first.stderr, /usage rollups built: 10 days in [\d.]+ s/);
    const rows = JSON.parse(first.stdout) as { subscription: string; requests: number }[];
    assert.deepEqual(
      rows.map((r) => [r.subscription, r.requests]),
      [
        ['team-0', 20],
        ['team-1', 20],
      ],
    );
    // Built once: the next open has nothing to build and says nothing.
    const second = await runCli(args, dir);
    assert.equal(second.stderr, '');
    assert.equal(second.stdout, first.stdout);
  });

  it('off a terminal writes lines and one summary at the end', () => {
    const lines: string[] = [];
    const show = showRollupBuild({ write: (t: string) => lines.push(t), isTTY: false });
    show(1, 4);
    show(4, 4);
    assert.match(lines.join(''), /usage rollups built: 4 days/);
  });
});
