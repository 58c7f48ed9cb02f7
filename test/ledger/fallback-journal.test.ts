import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { fallbackJournalPath, openFallbackJournal } from '../../src/ledger/fallback-journal.js';
import { parseLedgerUrl } from '../../src/ledger/ledger.js';
import { parseJournalRecord } from '../../src/ledger/journal-record.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { makeRecord, makeTempDir } from './fixtures/records.js';

/** The original lines set aside in `<journal>.rejected`. */
const rejectedLines = (journalPath: string): string[] =>
  readFileSync(`${journalPath}.rejected`, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { line: string }).line);

describe('fallback journal', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await makeTempDir()));
  after(() => cleanup());
  let n = 0;
  const fresh = (): { journalPath: string; ledgerPath: string } => {
    n++;
    const ledgerPath = join(dir, `l${n}.db`);
    return { ledgerPath, journalPath: `${ledgerPath}.journal` };
  };

  it('lives beside an SQLite ledger file; none for an in-memory or PostgreSQL ledger', () => {
    assert.equal(fallbackJournalPath(parseLedgerUrl('sqlite:/srv/tm.db')), '/srv/tm.db.journal');
    assert.equal(fallbackJournalPath(parseLedgerUrl('sqlite::memory:')), undefined);
    assert.equal(fallbackJournalPath(parseLedgerUrl('postgres://u@h/db')), undefined);
  });

  it('writes one JSON record per line, then imports them exactly into the ledger and removes itself', async () => {
    const { journalPath, ledgerPath } = fresh();
    const journal = openFallbackJournal(journalPath);
    const a = makeRecord({
      id: 'a',
      flags: ['usage_invalid'],
      cost: 0.5,
      providerCost: 0.4,
      tokenDetails: { audioPromptTokens: 3 },
      user: 'ü 😀',
    });
    const b = makeRecord({ id: 'b', time: a.time + 1, completionTokens: 0 });
    journal.append([a]);
    journal.append([b]);
    const lines = readFileSync(journalPath, 'utf8').split('\n');
    assert.equal(lines.length, 3, 'two lines, each ended');
    assert.deepEqual(JSON.parse(lines[0] ?? ''), a);
    assert.equal(journal.pendingRecords, 2);

    const ledger = createSqliteLedger(ledgerPath);
    assert.deepEqual(await journal.importInto(ledger), { imported: 2, rejected: 0 });
    assert.equal(journal.pendingRecords, 0);
    assert.equal(existsSync(journalPath), false);
    assert.equal(existsSync(`${journalPath}.importing`), false);
    assert.deepEqual(await ledger.get('a'), a);
    assert.deepEqual(await ledger.get('b'), b);
    await ledger.close();
  });

  it('skips and sets aside a torn last line, and the next append starts on a line of its own', async () => {
    const { journalPath, ledgerPath } = fresh();
    const whole = JSON.stringify(makeRecord({ id: 'whole' }));
    const torn = JSON.stringify(makeRecord({ id: 'torn' })).slice(0, 57);
    writeFileSync(journalPath, `${whole}\n${torn}`);
    const journal = openFallbackJournal(journalPath);
    assert.equal(journal.pendingRecords, 2, 'the torn line is counted until it is set aside');
    journal.append([makeRecord({ id: 'after' })]);

    const ledger = createSqliteLedger(ledgerPath);
    assert.deepEqual(await journal.importInto(ledger), { imported: 2, rejected: 1 });
    assert.equal(await ledger.count(), 2);
    assert.ok(await ledger.get('after'), 'the record written after the torn line is intact');
    const setAside = readFileSync(`${journalPath}.rejected`, 'utf8');
    assert.equal(
      (JSON.parse(setAside) as { line: string }).line,
      torn,
      'the torn fragment is kept for the operator',
    );
    await ledger.close();
  });

  it('sets aside lines that are not usage records (damage mid-file) and imports the rest', async () => {
    const { journalPath, ledgerPath } = fresh();
    const good = (id: string): string => JSON.stringify(makeRecord({ id }));
    const bad = [
      '{"id":"x"}',
      'not json',
      JSON.stringify({ ...makeRecord({ id: 'neg' }), promptTokens: -1 }),
      JSON.stringify({ ...makeRecord({ id: 'src' }), source: 'guessed' }),
      JSON.stringify({ ...makeRecord({ id: 'flag' }), flags: ['nope'] }),
      JSON.stringify({ ...makeRecord({ id: 'pc' }), providerCost: '0.1' }),
      JSON.stringify({ ...makeRecord({ id: 'td' }), tokenDetails: { audioSeconds: 3 } }),
      JSON.stringify({ ...makeRecord({ id: 'td2' }), tokenDetails: { audioPromptTokens: -1 } }),
      '[]',
    ];
    writeFileSync(journalPath, [good('g1'), ...bad, '', good('g2'), ''].join('\n'));
    const ledger = createSqliteLedger(ledgerPath);
    const journal = openFallbackJournal(journalPath);
    assert.deepEqual(await journal.importInto(ledger), { imported: 2, rejected: bad.length });
    assert.equal(await ledger.count(), 2);
    assert.deepEqual(rejectedLines(journalPath), bad);
    await ledger.close();
  });

  it('an import cut short by a crash is finished at the next start without doubling a record', async () => {
    const { journalPath, ledgerPath } = fresh();
    const first = [1, 2, 3].map((i) => makeRecord({ id: `c${i}`, time: 1_700_000_000_000 + i }));
    const later = makeRecord({ id: 'c4', time: 1_700_000_000_004 });
    // The state a crash mid-import leaves: part of `.importing` already in the ledger, and a
    // fresh journal written after the rename.
    writeFileSync(`${journalPath}.importing`, first.map((r) => `${JSON.stringify(r)}\n`).join(''));
    writeFileSync(journalPath, `${JSON.stringify(later)}\n`);
    const ledger = createSqliteLedger(ledgerPath);
    await ledger.append(first[0] ?? assert.fail());
    await ledger.append(first[1] ?? assert.fail());

    const journal = openFallbackJournal(journalPath);
    assert.equal(journal.pendingRecords, 4);
    assert.deepEqual(await journal.importInto(ledger), { imported: 4, rejected: 0 });
    assert.equal(await ledger.count(), 4, 'each record once');
    assert.equal(existsSync(`${journalPath}.importing`), false);
    assert.equal(existsSync(journalPath), false);
    await ledger.close();
  });

  it('importing the same journal twice (a duplicate import) stores each record once', async () => {
    const { journalPath, ledgerPath } = fresh();
    const records = Array.from({ length: 700 }, (_, i) =>
      makeRecord({ id: `d${i}`, time: 1_700_000_000_000 + (i % 7) }),
    );
    const text = records.map((r) => `${JSON.stringify(r)}\n`).join('');
    const ledger = createSqliteLedger(ledgerPath);
    const journal = openFallbackJournal(journalPath);
    writeFileSync(journalPath, text);
    assert.equal((await journal.importInto(ledger)).imported, 700);
    writeFileSync(journalPath, text);
    assert.equal((await journal.importInto(ledger)).imported, 700);
    assert.equal(await ledger.count(), 700);
    await ledger.close();
  });

  it('records appended while an import runs are imported too', async () => {
    const { journalPath, ledgerPath } = fresh();
    const journal = openFallbackJournal(journalPath);
    journal.append([makeRecord({ id: 'before' })]);
    const inner = createSqliteLedger(ledgerPath);
    let appendedDuringImport = false;
    const ledger = {
      rejectsRecord: (err: unknown) => inner.rejectsRecord(err),
      append: (record: Parameters<typeof inner.append>[0]) => {
        if (!appendedDuringImport) {
          appendedDuringImport = true;
          journal.append([makeRecord({ id: 'during' })]);
        }
        return inner.append(record);
      },
    };
    assert.deepEqual(await journal.importInto(ledger), { imported: 2, rejected: 0 });
    assert.equal(await inner.count(), 2);
    assert.equal(journal.pendingRecords, 0);
    await inner.close();
  });

  it('a record the ledger refuses on its own is set aside, not allowed to hold the journal back', async () => {
    const { journalPath, ledgerPath } = fresh();
    const ledger = createSqliteLedger(ledgerPath);
    // A real constraint failure (SQLITE_CONSTRAINT_TRIGGER) for one record id.
    const other = new Database(ledgerPath);
    other.exec(`CREATE TRIGGER refuse_bad BEFORE INSERT ON usage_records WHEN NEW.id LIKE 'bad%'
                BEGIN SELECT RAISE(ABORT, 'refused'); END`);
    other.close();
    for (const ids of [['g1', 'bad1', 'g2'], ['bad2']]) {
      const journal = openFallbackJournal(journalPath);
      journal.append(ids.map((id) => makeRecord({ id })));
      const expected = { imported: ids.length - 1, rejected: 1 };
      assert.deepEqual(await journal.importInto(ledger), expected, ids.join());
      assert.equal(existsSync(journalPath), false);
    }
    assert.equal(await ledger.count(), 2);
    const setAside = rejectedLines(journalPath).map((l) => (JSON.parse(l) as { id: string }).id);
    assert.deepEqual(setAside, ['bad1', 'bad2']);
    await ledger.close();
  });

  it('a failed import keeps every record for the next attempt', async () => {
    const { journalPath, ledgerPath } = fresh();
    const journal = openFallbackJournal(journalPath);
    // More than the pages the new ledger file has can hold.
    const records = Array.from({ length: 40 }, (_, i) => makeRecord({ id: `k${i}`, user: 'u'.repeat(1000) }));
    journal.append(records);
    // A real SQLite failure: the ledger file is capped at the pages it already has.
    const full = createSqliteLedger(ledgerPath, { maxPageCount: 1 });
    await assert.rejects(journal.importInto(full), { code: 'SQLITE_FULL' });
    assert.equal(await full.count(), 0, 'the whole batch was rolled back');
    await full.close();
    assert.equal(journal.pendingRecords, 40);
    const ledger = createSqliteLedger(ledgerPath);
    assert.equal((await journal.importInto(ledger)).imported, 40);
    assert.equal(await ledger.count(), 40);
    await ledger.close();
  });

  it('an append that cannot be written throws and leaves nothing behind', () => {
    const { journalPath } = fresh();
    mkdirSync(journalPath); // a directory where the file should be: open fails with EISDIR
    const journal = openFallbackJournal(journalPath);
    assert.throws(() => journal.append([makeRecord({ id: 'nowhere' })]), { code: 'EISDIR' });
    assert.equal(journal.pendingRecords, 0);
  });

  it('the record guard accepts every record the gateway writes and rejects the rest', () => {
    const full = makeRecord({
      id: 'r',
      user: 'u',
      model: 'm',
      responseModel: 'm2',
      cachedTokens: 0,
      upstreamRequestId: 'req',
      flags: ['dimension_truncated'],
      custom: { team: 'x' },
    });
    assert.deepEqual(parseJournalRecord(JSON.parse(JSON.stringify(full))), full);
    for (const broken of [
      { ...full, id: '' },
      { ...full, time: 'now' },
      { ...full, stream: 'yes' },
      { ...full, custom: { team: 1 } },
      { ...full, model: 5 },
      { ...full, promptTokens: 1.5 },
      { ...full, cost: 'free' },
      null,
      'text',
    ])
      assert.equal(parseJournalRecord(broken), undefined, JSON.stringify(broken));
  });

  it('counts the records of journal files left by an earlier process', () => {
    const { journalPath } = fresh();
    appendFileSync(journalPath, `${JSON.stringify(makeRecord({ id: 'p1' }))}\n`);
    appendFileSync(`${journalPath}.importing`, `${JSON.stringify(makeRecord({ id: 'p2' }))}\n`);
    assert.equal(openFallbackJournal(journalPath).pendingRecords, 2);
  });
});
