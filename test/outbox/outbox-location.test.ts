import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseLedgerUrl } from '../../src/ledger/ledger.js';
import { outboxRoot } from '../../src/outbox/outbox-location.js';

describe('outbox root', () => {
  const at = (url: string, configured?: string): string | undefined =>
    outboxRoot(parseLedgerUrl(url, '/srv'), configured, '/srv');

  it('sits beside an SQLite file, in ./tokenmeter-outbox for PostgreSQL, or where configured', () => {
    assert.equal(at('sqlite:./ledger.db'), '/srv/ledger.db.outbox');
    assert.equal(at('postgres://u:p@db/tm'), '/srv/tokenmeter-outbox');
    assert.equal(at('postgres://u:p@db/tm', 'spool'), '/srv/spool');
    assert.equal(at('sqlite:/data/l.db', '/var/outbox'), '/var/outbox');
  });

  it('an in-memory ledger has none, even when one is configured', () => {
    assert.equal(at('sqlite::memory:'), undefined);
    assert.equal(at('sqlite::memory:', '/var/outbox'), undefined);
  });
});
