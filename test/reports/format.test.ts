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
      /^time \(UTC\)\s+subscription\s+requests\s+prompt\s+completion\s+total\s+cached\s+cache write\s+reasoning\s+estimated\s+partial\s+cost \(USD\)$/,
    );
    assert.match(lines[2] ?? '', /^2025-01-15 10:00\s+team-a\s+1\s+1,234,567\s+20\s+1,234,587\s.*\s1\.50$/);
    assert.match(lines.at(-1) ?? '', /^TOTAL\s+2\s+2,469,134\s.*\s3\.00$/);
    // Right-aligned figures: every line has the same length up to its last column.
    const widths = new Set(lines.filter((l) => !l.startsWith('---')).map((l) => l.length));
    assert.equal(widths.size, 1, lines.join('\n'));
    const withNull = formatRows(rows, ['subscription', 'model'], 'table');
    assert.match(withNull, /\(none\)/);
    assert.match(withNull, /TOTAL.*1\.50$/m);
  });

  it('validates --format', () => {
    assert.equal(parseOutputFormat('CSV'), 'csv');
    assert.throws(
      () => parseOutputFormat('xml'),
      (err: unknown) => err instanceof CliInputError && /--format "xml"/.test(err.message),
    );
  });
});
