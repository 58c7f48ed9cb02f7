import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteKeyStore } from '../../src/auth/sqlite-key-store.js';
import { describeManagedKeys } from './managed-keys-suite.js';

const dir = mkdtempSync(join(tmpdir(), 'tokenmeter-keys-unit-'));
let n = 0;

describeManagedKeys('SQLite', () => {
  n += 1;
  return Promise.resolve({ store: createSqliteKeyStore(join(dir, `ledger-${n}.db`)) });
});
