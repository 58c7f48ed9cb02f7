import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isTokenmeterError } from '../../src/errors.js';
import { openLedger, parseLedgerUrl } from '../../src/ledger/ledger.js';
import { makeRecord, makeTempDir } from './fixtures/records.js';

const configInvalid = (err: unknown): boolean => isTokenmeterError(err) && err.code === 'TM_CONFIG_INVALID';

describe('ledger URLs', () => {
  it('resolves sqlite paths against the working directory', () => {
    assert.deepEqual(parseLedgerUrl('sqlite:./tokenmeter.db', '/srv/tm'), {
      kind: 'sqlite',
      path: '/srv/tm/tokenmeter.db',
    });
    assert.deepEqual(parseLedgerUrl('sqlite:data/x.db', '/srv'), { kind: 'sqlite', path: '/srv/data/x.db' });
    assert.deepEqual(parseLedgerUrl('sqlite:/var/lib/tm.db', '/srv'), {
      kind: 'sqlite',
      path: '/var/lib/tm.db',
    });
    assert.deepEqual(parseLedgerUrl('sqlite:///var/lib/tm.db', '/srv'), {
      kind: 'sqlite',
      path: '/var/lib/tm.db',
    });
    assert.deepEqual(parseLedgerUrl('sqlite::memory:'), { kind: 'sqlite', path: ':memory:' });
  });

  it('recognises postgres URLs', () => {
    assert.equal(parseLedgerUrl('postgres://u:p@db:5432/tm').kind, 'postgres');
    assert.equal(parseLedgerUrl('postgresql://db/tm').kind, 'postgres');
  });

  it('refuses other schemes and empty paths with TM_CONFIG_INVALID', () => {
    assert.throws(() => parseLedgerUrl('mysql://db'), configInvalid);
    assert.throws(() => parseLedgerUrl('./tokenmeter.db'), configInvalid);
    assert.throws(() => parseLedgerUrl('sqlite:'), configInvalid);
  });

  it('opens a PostgreSQL ledger without connecting, and refuses a malformed postgres URL', async () => {
    // Nothing listens on port 1: opening succeeds (the pool connects lazily), a call fails.
    const ledger = openLedger('postgres://u:p@127.0.0.1:1/tm');
    await assert.rejects(ledger.count(), { code: 'TM_LEDGER_UNAVAILABLE' });
    await ledger.close();
    assert.throws(() => openLedger('postgres://u:p@[::1/tm'), configInvalid);
  });

  it('opens an SQLite ledger relative to the given cwd', async () => {
    const { dir, cleanup } = await makeTempDir();
    try {
      const ledger = openLedger('sqlite:./sub/usage.db', { cwd: dir });
      await ledger.append(makeRecord({ id: 'x' }));
      assert.equal(await ledger.count(), 1);
      await ledger.close();
      assert.ok(existsSync(join(dir, 'sub', 'usage.db')));
    } finally {
      await cleanup();
    }
  });
});
