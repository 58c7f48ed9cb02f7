import {
  closeSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import type { Ledger, LedgerLocation } from './ledger.js';
import { SQLITE_MEMORY } from './ledger.js';
import { parseJournalRecord } from './journal-record.js';
import type { UsageRecord } from './record.js';

/**
 * Where the fallback journal of a ledger lives: beside an SQLite file, `<ledger file>.journal`.
 * None for an in-memory ledger (nothing to import into after a restart) or for PostgreSQL (a
 * shared ledger will get a local outbox of its own, DESIGN.md).
 */
export function fallbackJournalPath(location: LedgerLocation): string | undefined {
  if (location.kind !== 'sqlite' || location.path === SQLITE_MEMORY) return undefined;
  return `${location.path}.journal`;
}

/** What one import did. */
export interface JournalImport {
  /** Records handed to the ledger (those it already had are among them, and ignored by it). */
  imported: number;
  /**
   * Lines set aside instead of imported: not a usage record (a torn last line, a damaged file),
   * or a record the ledger refuses on its own (Ledger.rejectsRecord).
   */
  rejected: number;
}

/**
 * The append-only file that holds usage records while the ledger cannot write, one JSON record
 * per line (`JSON.stringify(UsageRecord)` and `\n`).
 *
 * Durability: `append` returns once the bytes are in the operating system (one `write` on a file
 * opened for appending), the guarantee of SQLite's WAL with `synchronous = NORMAL`: a killed or
 * crashed process loses nothing, a power cut may lose the last writes.
 *
 * Import is crash-safe: the journal is first renamed to `<journal>.importing` (new records then
 * start a new journal), its records are appended to the ledger, and only then is the file
 * removed. A crash in between leaves `.importing`, imported again at the next attempt; the ledger
 * ignores a record it already holds (same id and time), so nothing is lost and nothing doubled.
 * Lines that are not a valid record (a line torn by a crash mid-write, damage) and records the
 * ledger refuses on their own are skipped, counted, and copied to `<journal>.rejected`, one JSON
 * object `{"reason", "line"}` per line, for an operator to look at: never deleted unseen.
 */
export interface FallbackJournal {
  readonly path: string;
  /** Records written and not yet imported (lines of the journal files; counted at open). */
  readonly pendingRecords: number;
  /**
   * Appends the records in one write. Throws if not every byte could be written; the file is then
   * cut back to where it was, so a failed append leaves no partial line behind.
   */
  append(records: readonly UsageRecord[]): void;
  /** Moves every journal record into the ledger (see above); rejects if the ledger fails. */
  importInto(ledger: JournalTarget): Promise<JournalImport>;
  /** Closes the file; a later append opens it again. */
  close(): void;
}

/** One line of `<journal>.rejected`: the journal line as it was, and why it was not imported. */
interface RejectedLine {
  reason: string;
  line: string;
}

/** What an import needs of the ledger. */
export type JournalTarget = Pick<Ledger, 'append' | 'rejectsRecord'>;

const NEWLINE = 0x0a;
/** Records handed to the ledger at once during an import: one group commit. */
const IMPORT_BATCH = 512;
const READ_CHUNK = 1 << 16;

/** Opens (lazily: no file until the first append) the journal at `path`. */
export function openFallbackJournal(path: string): FallbackJournal {
  const importingPath = `${path}.importing`;
  const rejectedPath = `${path}.rejected`;
  let fd: number | undefined;
  let size = 0;
  // A journal whose last line was torn (crash mid-write, or a failed cut-back) must not have the
  // next record glued onto that fragment: the next write starts on a new line.
  let startNewLine = false;
  let pending = countLines(path) + countLines(importingPath);

  const openForAppend = (): number => {
    if (fd !== undefined) return fd;
    // a+: appends, and the last byte can be read back to see whether the last line was ended.
    const opened = openSync(path, 'a+');
    size = fstatSync(opened).size;
    startNewLine = size > 0 && lastByte(opened, size) !== NEWLINE;
    fd = opened;
    return opened;
  };

  const closeFile = (): void => {
    if (fd === undefined) return;
    const toClose = fd;
    fd = undefined;
    closeSync(toClose);
  };

  const setAside = (lines: readonly RejectedLine[]): void => {
    if (lines.length === 0) return;
    const out = openSync(rejectedPath, 'a');
    try {
      writeFully(out, Buffer.from(lines.map((l) => `${JSON.stringify(l)}\n`).join(''), 'utf8'));
    } finally {
      closeSync(out);
    }
  };

  /** Imports one file; resolves once every valid record in it is committed to the ledger. */
  const importFile = async (file: string, ledger: JournalTarget): Promise<JournalImport> => {
    const result: JournalImport = { imported: 0, rejected: 0 };
    let batch: UsageRecord[] = [];
    const rejectedLines: RejectedLine[] = [];
    const commit = async (): Promise<void> => {
      if (batch.length === 0) return;
      const records = batch;
      batch = [];
      // Appended in one turn of the event loop: the ledger commits them as one transaction.
      const results = await Promise.allSettled(records.map((r) => ledger.append(r)));
      results.forEach((outcome, i) => {
        if (outcome.status === 'fulfilled') {
          result.imported++;
          return;
        }
        // A record the ledger will never take must not hold the journal back for ever.
        if (!ledger.rejectsRecord(outcome.reason)) throw outcome.reason;
        rejectedLines.push({
          reason: `refused by the ledger: ${String(outcome.reason)}`,
          line: JSON.stringify(records[i]),
        });
      });
    };
    for await (const { line, terminated } of readLines(file)) {
      if (line.trim() === '') continue;
      const record = parseLine(line);
      if (record === undefined) {
        rejectedLines.push({
          reason: terminated ? 'not a usage record' : 'not a usage record, and torn: no end of line',
          line,
        });
        continue;
      }
      batch.push(record);
      if (batch.length >= IMPORT_BATCH) await commit();
    }
    await commit();
    // Set aside before the file goes: a crash between the two keeps the line twice, never zero times.
    setAside(rejectedLines);
    result.rejected = rejectedLines.length;
    return result;
  };

  return {
    path,
    get pendingRecords() {
      return pending;
    },
    append(records) {
      if (records.length === 0) return;
      const text = records.map((r) => `${JSON.stringify(r)}\n`).join('');
      const target = openForAppend();
      const bytes = Buffer.from(startNewLine ? `\n${text}` : text, 'utf8');
      try {
        writeFully(target, bytes);
      } catch (err) {
        try {
          ftruncateSync(target, size);
        } catch {
          startNewLine = true;
        }
        throw err;
      }
      size += bytes.length;
      startNewLine = false;
      pending += records.length;
    },
    async importInto(ledger) {
      const total: JournalImport = { imported: 0, rejected: 0 };
      // A leftover `.importing` (an import cut short by a crash or a ledger failure) goes first;
      // the journal is renamed only once it is gone, so the two never hold a record both.
      for (;;) {
        if (!existsSync(importingPath)) {
          if (fileSize(path) === 0) break;
          closeFile();
          renameSync(path, importingPath);
        }
        const done = await importFile(importingPath, ledger);
        unlinkSync(importingPath);
        total.imported += done.imported;
        total.rejected += done.rejected;
        // Records appended meanwhile went to a fresh journal: their turn comes in the next round.
        pending = countLines(path);
      }
      pending = 0;
      return total;
    },
    close: closeFile,
  };
}

function parseLine(line: string): UsageRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  return parseJournalRecord(value);
}

/** Size of a regular file; 0 when there is none (or something else is at the path). */
function fileSize(file: string): number {
  try {
    const stat = statSync(file);
    return stat.isFile() ? stat.size : 0;
  } catch {
    return 0;
  }
}

function writeFully(fd: number, bytes: Buffer): void {
  let offset = 0;
  while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
}

function lastByte(fd: number, size: number): number | undefined {
  const one = Buffer.alloc(1);
  return readSync(fd, one, 0, 1, size - 1) === 1 ? one[0] : undefined;
}

/** Non-empty lines of a file (a last line without its newline counts too); 0 when there is none. */
function countLines(file: string): number {
  let fd: number;
  try {
    if (fileSize(file) === 0) return 0;
    fd = openSync(file, 'r');
  } catch {
    return 0;
  }
  try {
    const buffer = Buffer.alloc(READ_CHUNK);
    let count = 0;
    let previous = NEWLINE;
    for (let read = readSync(fd, buffer); read > 0; read = readSync(fd, buffer)) {
      for (let i = 0; i < read; i++) {
        const byte = buffer[i];
        if (byte === NEWLINE && previous !== NEWLINE) count++;
        if (byte !== undefined) previous = byte;
      }
    }
    return previous === NEWLINE ? count : count + 1;
  } finally {
    closeSync(fd);
  }
}

/**
 * The lines of a file, read in chunks (a journal can be larger than memory should hold), each
 * with whether its newline was there. Lines are split on the bytes: UTF-8 never has 0x0a inside
 * a character, so a chunk boundary cannot cut a line's text wrongly.
 */
async function* readLines(file: string): AsyncGenerator<{ line: string; terminated: boolean }> {
  const handle = await open(file, 'r');
  try {
    let rest: Buffer = Buffer.alloc(0);
    const buffer = Buffer.alloc(READ_CHUNK);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, READ_CHUNK, null);
      if (bytesRead === 0) break;
      let data = Buffer.concat([rest, buffer.subarray(0, bytesRead)]);
      let start = 0;
      for (let nl = data.indexOf(NEWLINE, start); nl !== -1; nl = data.indexOf(NEWLINE, start)) {
        yield { line: data.toString('utf8', start, nl), terminated: true };
        start = nl + 1;
      }
      data = data.subarray(start);
      rest = Buffer.from(data);
    }
    if (rest.length > 0) yield { line: rest.toString('utf8'), terminated: false };
  } finally {
    await handle.close();
  }
}
