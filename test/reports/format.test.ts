import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CliInputError } from '../../src/cli/cli-error.js';
import { formatRows, parseOutputFormat } from '../../src/reports/format.js';
import type { UsageRow } from '../../src/reports/usage-query.js';

const figures = {
  requests: 1,
  promptTokens: 1234567,
  completionTokens: 20,
  totalTokens: 1234587,
  cachedTokens: 0,
  cacheWriteTokens: 0,
  reasoningTokens: 0,
  estimatedRequests: 0,
  partialRequests: 0,
  cost: 1.5,
  unpricedTokens: 0,
  unpricedRequests: 0,
};

const rows: UsageRow[] = [
  { subscription: 'team "a", east', model: 'gpt-4o', ...figures },
  { subscription: null, model: 'line\nbreak', ...figures, requests: 2, cost: null },
];

/** Minimal RFC 4180 reader for the test: quoted fields, doubled quotes, CRLF between records. */
function readCsv(text: string): string[][] {
  const records: string[][] = [[]];
  let field = '';
  let quoted = false;
  const endField = (): void => {
    records.at(-1)?.push(field);
    field = '';
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === '"' && text[i + 1] === '"') {
      field += '"';
      i++;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (!quoted && c === ',') {
      endField();
    } else if (!quoted && c === '\r' && text[i + 1] === '\n') {
      endField();
      records.push([]);
      i++;
    } else {
      field += c;
    }
  }
  endField();
  return records;
}

describe('usage output formats', () => {
  it('json is exactly the rows as one array', () => {
    assert.deepEqual(JSON.parse(formatRows(rows, ['subscription', 'model'], 'json')), rows);
    assert.equal(formatRows([], ['subscription'], 'json'), '[]');
  });

  it('csv quotes per RFC 4180 and starts with a header of row keys', () => {
    const text = formatRows(rows, ['subscription', 'model'], 'csv');
    assert.ok(text.includes('"team ""a"", east"'));
    assert.ok(text.includes('"line\nbreak"'));
    const [header, first, second, ...rest] = readCsv(text);
    assert.deepEqual(rest, []);
    assert.deepEqual(header, [
      'subscription',
      'model',
      'requests',
      'promptTokens',
      'completionTokens',
      'totalTokens',
      'cachedTokens',
      'cacheWriteTokens',
      'reasoningTokens',
      'estimatedRequests',
      'partialRequests',
      'cost',
      'unpricedTokens',
      'unpricedRequests',
    ]);
    assert.deepEqual(first?.slice(0, 4), ['team "a", east', 'gpt-4o', '1', '1234567']);
    assert.deepEqual([second?.[0], second?.[1], second?.[11]], ['', 'line\nbreak', '']);
  });

  it('csv and table keep the header when there are no rows, with a time column when asked', () => {
    assert.equal(
      formatRows([], ['user'], 'csv', { time: true }).split(',').slice(0, 3).join(','),
      'time,user,requests',
    );
    assert.match(formatRows([], ['user'], 'table'), /^user\s+requests\s+prompt.*\n-+.*\n\(no usage recorded/);
  });

  it('table aligns columns, separates thousands, names absent values and adds a total', () => {
    const timed: UsageRow[] = [{ time: '2025-01-15T10:00:00.000Z', subscription: 'team-a', ...figures }];
    const lines = formatRows(
      [...timed, { ...timed[0], subscription: 'b' } as UsageRow],
      ['subscription'],
      'table',
    ).split('\n');
    assert.match(
      lines[0] ?? '',
      /^time \(UTC\)\s+subscription\s+requests\s+prompt\s+completion\s+total\s+cached\s+cache write\s+reasoning\s+estimated\s+partial\s+cost \(USD\)\s+unpriced tokens\s+unpriced$/,
    );
    assert.match(
      lines[2] ?? '',
      /^2025-01-15 10:00\s+team-a\s+1\s+1,234,567\s+20\s+1,234,587\s.*\s1\.50\s+0\s+0$/,
    );
    assert.match(lines.at(-1) ?? '', /^TOTAL\s+2\s+2,469,134\s.*\s3\.00\s+0\s+0$/);
    // Right-aligned figures: every line has the same length up to its last column.
    const widths = new Set(lines.filter((l) => !l.startsWith('---')).map((l) => l.length));
    assert.equal(widths.size, 1, lines.join('\n'));
    const withNull = formatRows(rows, ['subscription', 'model'], 'table');
    assert.match(withNull, /\(none\)/);
    assert.match(withNull, /TOTAL.*1\.50\s+0\s+0$/m);
  });

  describe('hostile dimension values', () => {
    const hostile = [
      'team-a\x1b[2J\x1b[H',
      'evil\nTOTAL  999  999',
      'cr\roverwrite',
      '\u202Eexe.gnp',
      'csi\u009b31m-c1',
      'del\u007f bell\u0007 nul\u0000',
      'zero\u200Bwidth\uFEFF',
      'lines\u2028para\u2029',
      'tag\u{E0041}',
      'lone\uD800surrogate',
    ];
    const formulas = [
      '=HYPERLINK("http://evil.example","x")',
      '+1+1',
      '-2+3',
      '@SUM(A1)',
      '\tx',
      '\rx',
      '\nx',
    ];
    const plain = ['équipe-東京 🚀', 'back\\slash', 'x;=1+1', 'a,=1'];
    const values = [...hostile, ...formulas, ...plain];
    const hostileRows: UsageRow[] = values.map((user, i) => ({ user, model: `m${i}`, ...figures }));
    // Anything a terminal would not print as itself; only the table's own line breaks may remain.
    const unprintable = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

    it('table: one cell on one line per value, nothing unprintable, printable text kept', () => {
      const text = formatRows(hostileRows, ['user', 'model'], 'table');
      const lines = text.split('\n');
      // header, rule, one line per row, rule, TOTAL
      assert.equal(lines.length, values.length + 4, text);
      for (const line of lines) assert.doesNotMatch(line, unprintable, JSON.stringify(line));
      const dataLines = lines.slice(2, 2 + values.length);
      dataLines.forEach((line, i) => assert.match(line, new RegExp(`\\sm${i}\\s`), line));
      assert.ok(dataLines[0]?.startsWith('team-a\\x1b[2J\\x1b[H '));
      assert.ok(dataLines[1]?.startsWith('evil\\nTOTAL  999  999 '));
      assert.ok(dataLines[3]?.startsWith('\\u{202e}exe.gnp '));
      assert.ok(dataLines[4]?.startsWith('csi\\x9b31m-c1 '));
      assert.ok(dataLines[5]?.startsWith('del\\x7f bell\\x07 nul\\x00 '));
      assert.ok(dataLines[9]?.startsWith('lone\\u{d800}surrogate '));
      assert.ok(text.includes('équipe-東京 🚀'));
      assert.ok(text.includes('back\\slash'));
      assert.equal(lines.filter((l) => l.startsWith('TOTAL')).length, 1);
      // Escaping is ASCII, so the columns stay aligned: every row is as long as the header.
      const width = (lines[0] ?? '').length;
      for (const line of dataLines.slice(0, hostile.length + formulas.length))
        assert.equal(line.length, width);
    });

    it('csv: formula cells get a leading quote, every value stays one cell, numbers stay numbers', () => {
      const withNegative: UsageRow[] = [...hostileRows, { user: '-5', model: 'neg', ...figures, cost: -1.5 }];
      const records = readCsv(formatRows(withNegative, ['user', 'model'], 'csv'));
      assert.equal(records.length, withNegative.length + 1);
      for (const record of records) assert.equal(record.length, 14);
      const users = records.slice(1).map((r) => r[0]);
      assert.deepEqual(users, [...hostile, ...formulas.map((f) => `'${f}`), ...plain, "'-5"]);
      for (const record of records.slice(1)) {
        for (const cell of record.slice(0, 2))
          assert.doesNotMatch(cell, /^[=+\-@\t\r\n]/, JSON.stringify(record));
      }
      const last = records.at(-1) ?? [];
      assert.equal(last[11], '-1.5');
      assert.equal(last[2], '1');
      // In a locale whose separator is ";", the value is still quoted as one field.
      assert.ok(formatRows(hostileRows, ['user'], 'csv').includes('"x;=1+1"'));
    });

    it('json: parses to exactly the raw values, with no raw control or bidi character in the text', () => {
      const text = formatRows(hostileRows, ['user', 'model'], 'json');
      assert.deepEqual(JSON.parse(text), hostileRows);
      assert.doesNotMatch(text.replaceAll('\n', ''), unprintable);
      assert.ok(text.includes('\\u202e'));
      assert.ok(text.includes('équipe-東京 🚀'));
    });
  });

  it('validates --format', () => {
    assert.equal(parseOutputFormat('CSV'), 'csv');
    assert.throws(
      () => parseOutputFormat('xml'),
      (err: unknown) => err instanceof CliInputError && /--format "xml"/.test(err.message),
    );
  });
});
