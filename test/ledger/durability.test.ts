import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { makeTempDir } from './fixtures/records.js';

const CHILD = fileURLToPath(new URL('./fixtures/append-and-die.ts', import.meta.url));

describe('SQLite ledger durability', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await makeTempDir()));
  after(() => cleanup());

  it('keeps every record whose append resolved when the process is SIGKILLed right after', async () => {
    const path = join(dir, 'killed.db');
    const count = 25;
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, path, String(count)], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    // Proves the child died without closing the ledger (no checkpoint, no clean shutdown).
    assert.equal(signal, 'SIGKILL', `child exited with code ${code}`);

    const ledger = createSqliteLedger(path);
    assert.equal(await ledger.count(), count);
    const last = await ledger.get(`killed-${count - 1}`);
    assert.equal(last?.promptTokens, count - 1);
    await ledger.close();
  });
});
