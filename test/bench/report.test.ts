import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LoadResult } from '../../bench/load.js';
import { renderMarkdown, summarizeRounds } from '../../bench/report.js';

const run = (requestsPerSecond: number, p50 = 1, failed = 0): LoadResult => ({
  requestsPerSecond,
  p50,
  p99: p50 * 3,
  ok: 100,
  failed,
});

test('rounds fold into medians per target and per-round ratios, ascending', () => {
  const summary = summarizeRounds('s', [
    { bare: run(1000, 1), tokenmeter: run(900, 2) },
    { bare: run(500, 3), tokenmeter: run(400, 4) },
    { bare: run(800, 5), tokenmeter: run(760, 6, 2) },
  ]);
  assert.deepEqual(summary.ratios, [0.8, 0.9, 0.95]);
  assert.equal(summary.results.bare?.requestsPerSecond, 800);
  assert.equal(summary.results.tokenmeter?.p50, 4);
  assert.equal(summary.results.tokenmeter?.ok, 300);
  assert.equal(summary.results.tokenmeter?.failed, 2);
  assert.equal(summary.results.upstream, undefined);
});

test('a round without both proxies, or with a bare proxy that served nothing, gives no ratio', () => {
  const summary = summarizeRounds('s', [{ bare: run(1000) }, { bare: run(0), tokenmeter: run(10) }]);
  assert.deepEqual(summary.ratios, []);
  const text = renderMarkdown({
    setup: [],
    scenarios: [summary],
    ttfb: { title: 't', results: {} },
    notes: [],
  });
  assert.match(text, /\| s \| — \| — \|/);
});

test('the report gives the median round (the lower middle one for an even count) and the range', () => {
  const summary = summarizeRounds('chat', [
    { bare: run(100), tokenmeter: run(70) },
    { bare: run(100), tokenmeter: run(90) },
  ]);
  const text = renderMarkdown({
    setup: [],
    scenarios: [summary],
    ttfb: { title: 't', results: {} },
    notes: [],
  });
  assert.match(text, /\| chat \| 70 % \| 70 % – 90 % \|/);
});

test('the memory scenario gives each proxy its peak RSS and the ratio, alone or after the load tables', () => {
  const memory = {
    title: 'large, 3 × 200 MB',
    results: {
      bare: { beforeMb: 60, peakMb: 80, secondsPerCall: 1.5, failed: 0 },
      tokenmeter: { beforeMb: 100, peakMb: 120, secondsPerCall: 2, failed: 1 },
    },
  };
  const text = renderMarkdown({
    setup: [],
    scenarios: [],
    ttfb: { title: 't', results: {} },
    memory,
    notes: [],
  });
  assert.match(text, /\| \(b\) bare Node proxy \| 60 \| 80 \| 1\.50 \|/);
  assert.match(text, /\| \(c\) tokenmeter \(1 failed\) \| 100 \| 120 \| 2\.00 \|/);
  assert.match(text, /\| peak RSS \(c\) ÷ \(b\) \| \| 1\.50× \| \|/);
  assert.doesNotMatch(text, /req\/s/);
});

test('(d) gets its own ratio table against (b′), only for the scenarios it ran in', () => {
  const withIdentity = summarizeRounds('one', [
    { bare: run(1000, 1), tokenmeter: run(800, 1.3), bareIdentity: run(1000, 1), identity: run(700, 1.5) },
    { bare: run(1000, 1), tokenmeter: run(900, 1.2), bareIdentity: run(1000, 1), identity: run(600, 1.4) },
  ]);
  const without = summarizeRounds('streams', [{ bare: run(100), tokenmeter: run(90) }]);
  assert.deepEqual(withIdentity.identityRatios, [0.6, 0.7]);
  assert.deepEqual(without.identityRatios, []);
  const text = renderMarkdown({
    setup: [],
    scenarios: [withIdentity, without],
    ttfb: { title: 't', results: {} },
    notes: [],
  });
  assert.match(text, /\| one \| 60 % \| 60 % – 70 % \| \+0\.40 ms \| \+1\.20 ms \| \+0\.20 ms \|/);
  assert.equal(text.match(/\(d\) tokenmeter/g)?.length, 1);
  assert.equal(text.match(/\(b′\) bare/g)?.length, 1);
});
