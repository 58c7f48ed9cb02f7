import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/load-config.js';
import { createSqliteLedger } from '../../src/ledger/sqlite-ledger.js';
import { createCallPricer } from '../../src/pricing/call-pricer.js';
import { createPriceCatalog } from '../../src/pricing/price-catalog.js';
import { generateTraffic, type TrafficPlan } from '../../src/synthetic/generate-traffic.js';
import { SYNTHETIC_MODELS } from '../../src/synthetic/synthetic-models.js';
import { readLedgerRows, type LedgerRow } from '../helpers/ledger-rows.js';

const config = parseConfig(
  [
    'backends: [{ id: b, type: openai, url: "http://127.0.0.1:9/v1" }]',
    'apis: [{ id: openai, path: /openai/v1, type: openai, backend: b }]',
  ].join('\n'),
  'test.yaml',
);
// A Wednesday noon, UTC: 28 days back cover four whole weeks.
const NOW = Date.UTC(2026, 0, 14, 12);

const plan = (overrides: Partial<TrafficPlan> = {}): TrafficPlan => ({
  records: 20_000,
  days: 28,
  subscriptions: 12,
  models: 5,
  seed: 7,
  now: NOW,
  gateway: 'gw-test',
  location: 'westeurope',
  products: ['standard', 'premium'],
  ...overrides,
});

async function generate(p: TrafficPlan): Promise<LedgerRow[]> {
  const path = join(mkdtempSync(join(tmpdir(), 'tm-synthetic-')), 'ledger.db');
  const ledger = createSqliteLedger(path);
  try {
    await generateTraffic(p, { ledger, pricer: createCallPricer(config), batchSize: 3000 });
    assert.equal(await ledger.count(), p.records, 'exactly the records asked for');
  } finally {
    await ledger.close();
  }
  return readLedgerRows(path);
}

const num = (v: string | number | null | undefined): number => (typeof v === 'number' ? v : 0);
const share = (rows: LedgerRow[], keep: (r: LedgerRow) => boolean): number =>
  rows.filter(keep).length / rows.length;

test('every synthetic model is priced by the catalog', () => {
  const catalog = createPriceCatalog();
  for (const m of SYNTHETIC_MODELS) {
    assert.ok(catalog.knows(undefined, m.model), m.model);
    assert.ok(catalog.knows(undefined, m.responseModel), m.responseModel);
  }
});

test('generated traffic looks like a gateway’s: models, operations, rhythm, teams, sources, counts', async () => {
  const rows = await generate(plan());
  const distinct = (col: string) => new Set(rows.map((r) => r[col]));

  assert.equal(distinct('model').size, 5);
  for (const op of ['chat.completions', 'responses', 'messages', 'embeddings', 'generateContent'])
    assert.ok(distinct('operation').has(op), op);
  assert.deepEqual([...distinct('stream')].sort(), [0, 1]);
  assert.ok(
    rows.every((r) => r.operation !== 'embeddings' || r.stream === 0),
    'embeddings never streamed',
  );
  assert.ok(distinct('subscription').size === 12 && distinct('subscription').has('team-01'));
  assert.deepEqual([...distinct('gateway')], ['gw-test']);
  assert.deepEqual([...distinct('location')], ['westeurope']);
  assert.ok(distinct('user').size > 12 && distinct('ip').size >= 12);
  assert.ok(rows.every((r) => r.time !== null && num(r.time) >= NOW - 28 * 86_400_000 && num(r.time) < NOW));

  // Weekly rhythm: an average weekday carries far more than an average weekend day.
  const weekend = share(rows, (r) => [0, 6].includes(new Date(num(r.time)).getUTCDay()));
  assert.ok(weekend / 2 < ((1 - weekend) / 5) * 0.6, `weekend share ${weekend}`);
  // Daily rhythm: business hours (09–17 UTC) busier than the night (00–05 UTC), per hour.
  const hour = (r: LedgerRow) => new Date(num(r.time)).getUTCHours();
  const business = share(rows, (r) => hour(r) >= 9 && hour(r) < 17) / 8;
  const night = share(rows, (r) => hour(r) < 5) / 5;
  assert.ok(business > 3 * night, `business ${business} night ${night}`);

  // Heavy-tailed teams: the three largest carry more than a quarter of 12 teams' calls.
  const perTeam = [...distinct('subscription')].map((s) => share(rows, (r) => r.subscription === s));
  perTeam.sort((a, b) => b - a);
  assert.ok(
    num(perTeam[0]) + num(perTeam[1]) + num(perTeam[2]) > 0.4,
    `top three ${perTeam.slice(0, 3).join()}`,
  );

  for (const source of ['estimated', 'partial']) {
    const s = share(rows, (r) => r.source === source);
    assert.ok(s > 0.001 && s < 0.05, `${source} share ${s}`);
  }
  const failed = share(rows, (r) => r.status !== 200);
  assert.ok(failed > 0.005 && failed < 0.05, `non-200 share ${failed}`);
  assert.ok(rows.some((r) => num(r.cached_tokens) > 0) && rows.some((r) => num(r.reasoning_tokens) > 0));

  for (const r of rows) {
    if (r.status !== 200) {
      assert.equal(r.total_tokens, null, 'a failed call has no counts');
      assert.equal(r.cost, null);
      continue;
    }
    assert.equal(num(r.prompt_tokens) + num(r.completion_tokens), r.total_tokens);
    assert.ok(num(r.cached_tokens) + num(r.cache_write_tokens) <= num(r.prompt_tokens));
    assert.ok(num(r.reasoning_tokens) <= num(r.completion_tokens));
    assert.ok(typeof r.cost === 'number' && r.cost > 0, `priced: ${String(r.model)}`);
    // A stream cut short may have produced no output yet.
    if (r.operation !== 'embeddings')
      assert.ok(num(r.prompt_tokens) > 0 && (r.source === 'partial' || num(r.completion_tokens) > 0));
  }
  const chat = rows.filter((r) => r.status === 200 && r.operation !== 'embeddings');
  const sum = (col: string) => chat.reduce((a, r) => a + num(r[col]), 0);
  assert.ok(sum('prompt_tokens') > 4 * sum('completion_tokens'), 'prompt ≫ completion');
  // Time-ordered, as a gateway writes them, with the gateway's UUIDv7 ids.
  assert.ok(rows.every((r) => /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab]/.test(String(r.id))));
});

test('the same seed gives the same traffic; another seed other traffic', async () => {
  const strip = (rows: LedgerRow[]) => rows.map(({ id: _id, ...rest }) => rest);
  const small = plan({ records: 3000, subscriptions: 5, models: 12 });
  const [a, b, c] = await Promise.all([generate(small), generate(small), generate({ ...small, seed: 8 })]);
  assert.deepEqual(strip(a), strip(b));
  assert.notDeepEqual(strip(a), strip(c));
  assert.equal(new Set(a.map((r) => r.model)).size, 12);
});
