import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import { CliInputError } from '../../src/cli/cli-error.js';
import { addRepriceCommand } from '../../src/cli/reprice-command.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { makeRecord, makeTempDir } from '../ledger/fixtures/records.js';
import { readLedgerRows } from '../helpers/ledger-rows.js';

/** `tokenmeter reprice --month`: stored costs follow changed overrides and multipliers. */

const MARCH = Date.UTC(2026, 2, 10, 12);
const MILLION = { promptTokens: 1_000_000, completionTokens: 1_000_000, totalTokens: 2_000_000 };

describe('tokenmeter reprice', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let configPath: string;

  before(async () => {
    ({ dir, cleanup } = await makeTempDir());
    const ledgerPath = join(dir, 'ledger.db');
    configPath = join(dir, 'tokenmeter.yaml');
    await writeFile(
      configPath,
      [
        `ledger: sqlite:${ledgerPath}`,
        'backends: [{ id: sim, type: simulator }]',
        'apis: [{ id: openai, path: /openai/v1, type: openai, backend: sim }]',
        'products: [{ id: std, apis: [openai] }]',
        'subscriptions:',
        '  - { id: team-a, key: team-a-secret, product: std }',
        '  - { id: team-b, key: team-b-secret, product: std }',
        'pricing:',
        '  overrides:',
        '    - { model: house-model, input: 1.0, output: 2.0 }',
        '    - { model: house-model, input: 0.5, output: 1.0, from: 2026-03-15 }',
        '  subscriptions:',
        '    team-b: { multiplier: 0.9 }',
        '',
      ].join('\n'),
    );
    const ledger = createSqliteLedger(ledgerPath);
    // Stored before the overrides existed: unpriced, or priced at an old rate.
    await ledger.append(
      makeRecord({ id: 'a', time: MARCH, backend: 'sim', model: 'house-model', ...MILLION }),
    );
    await ledger.append(
      makeRecord({
        id: 'b',
        time: MARCH,
        subscription: 'team-b',
        backend: 'sim',
        model: 'house-model',
        ...MILLION,
        cost: 3,
      }),
    );
    await ledger.append(
      makeRecord({
        id: 'c',
        time: Date.UTC(2026, 2, 20),
        backend: 'sim',
        model: 'house-model',
        ...MILLION,
        cost: 1.5,
      }),
    );
    await ledger.append(
      makeRecord({ id: 'd', time: MARCH, backend: 'sim', model: 'unknown-model', ...MILLION }),
    );
    // April is another month: untouched.
    await ledger.append(
      makeRecord({ id: 'e', time: Date.UTC(2026, 3, 1), backend: 'sim', model: 'house-model', ...MILLION }),
    );
    await ledger.close();
  });
  after(() => cleanup());

  async function reprice(args: string[]): Promise<string> {
    let out = '';
    const program = new Command().exitOverride();
    addRepriceCommand(program, { stdout: (t) => (out += t) });
    await program.parseAsync(['reprice', '--config', configPath, ...args], { from: 'user' });
    return out;
  }

  const costs = (): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const row of readLedgerRows(join(dir, 'ledger.db'))) out[String(row['id'])] = row['cost'];
    return out;
  };

  it('recomputes the month with overrides in force at each record time and multipliers', async () => {
    assert.equal(await reprice(['--month', '2026-03']), 'reprice 2026-03: 2 of 4 records changed\n');
    assert.deepEqual(costs(), {
      a: 3, // 1M × 1.0 + 1M × 2.0
      b: 3 * 0.9, // team-b's multiplier
      c: 1.5, // the price from March 15 on: already right, unchanged
      d: null, // no price: stays unpriced
      e: null, // April
    });
  });

  it('a second run changes nothing', async () => {
    assert.equal(await reprice(['--month', '2026-03']), 'reprice 2026-03: 0 of 4 records changed\n');
  });

  it('a bad month is bad input (exit 2)', async () => {
    for (const month of ['2026-13', '2026-3', 'March', '2026-03-01'])
      await assert.rejects(
        reprice(['--month', month]),
        (err: unknown) => err instanceof CliInputError && err.exitCode === 2 && /--month/.test(err.message),
        month,
      );
  });
});

describe('tokenmeter reprice in reports.timezone', () => {
  it('reprices the month as reports count it: local months, not UTC ones', async () => {
    const { dir, cleanup } = await makeTempDir();
    try {
      const ledgerPath = join(dir, 'ledger.db');
      const configPath = join(dir, 'tokenmeter.yaml');
      await writeFile(
        configPath,
        [
          `ledger: sqlite:${ledgerPath}`,
          'backends: [{ id: sim, type: simulator }]',
          'apis: [{ id: openai, path: /openai/v1, type: openai, backend: sim }]',
          'reports: { timezone: Pacific/Kiritimati }', // UTC+14
          'pricing:',
          '  overrides: [{ model: house-model, input: 1.0, output: 2.0 }]',
          '',
        ].join('\n'),
      );
      const ledger = createSqliteLedger(ledgerPath);
      // 12:00 UTC on March 31 is 02:00 on April 1 in Kiritimati.
      await ledger.append(
        makeRecord({
          id: 'x',
          time: Date.UTC(2026, 2, 31, 12),
          backend: 'sim',
          model: 'house-model',
          ...MILLION,
        }),
      );
      await ledger.close();
      const run = async (month: string): Promise<string> => {
        let out = '';
        const program = new Command().exitOverride();
        addRepriceCommand(program, { stdout: (t) => (out += t) });
        await program.parseAsync(['reprice', '--config', configPath, '--month', month], { from: 'user' });
        return out;
      };
      assert.equal(await run('2026-03'), 'reprice 2026-03: 0 of 0 records changed\n');
      assert.equal(await run('2026-04'), 'reprice 2026-04: 1 of 1 records changed\n');
    } finally {
      await cleanup();
    }
  });
});
