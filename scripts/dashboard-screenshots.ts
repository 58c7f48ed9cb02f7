// Renders the README screenshots of the dashboard: docs/images/dashboard-admin.png (1280x800) and
// docs/images/dashboard-narrow.png (390 px wide), from a synthetic 30-day ledger of eight teams
// served by the real dashboard server. Run: node --import tsx scripts/dashboard-screenshots.ts
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UsageRecord } from '../src/ledger/record.js';
import {
  chromiumMissing,
  launchChromium,
  seedLedger,
  signIn,
  startDashboard,
} from '../test/helpers/dashboard-browser.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const ADMIN_KEY = 'screenshot-admin-key-0123456789';

/** Teams with a daily token volume (millions) and a growth per day, so the stack has a shape. */
const TEAMS: [string, number, number][] = [
  ['checkout', 9, 0.01],
  ['search', 7, 0.02],
  ['support-bot', 6, 0.03],
  ['data-science', 4, -0.01],
  ['mobile-app', 3, 0.015],
  ['marketing', 2, 0.0],
  ['platform', 1.5, 0.02],
  ['risk', 1, 0.01],
];
const MODELS: [string, number, number][] = [
  // model, share of calls, USD per 1k tokens (blended)
  ['gpt-4o', 0.45, 0.006],
  ['gpt-4o-mini', 0.4, 0.0004],
  ['o3-mini', 0.15, 0.0025],
];

/** A deterministic pseudo-random sequence (mulberry32), so the screenshots are reproducible. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function records(now: number): UsageRecord[] {
  const next = random(10);
  const first = Math.floor(now / DAY) * DAY - 29 * DAY;
  const out: UsageRecord[] = [];
  for (let hour = 0; first + hour * HOUR < now; hour++) {
    const time = first + hour * HOUR;
    const date = new Date(time);
    const weekend = date.getUTCDay() === 0 || date.getUTCDay() === 6;
    const hourOfDay = date.getUTCHours();
    // Office hours in Europe and America; quiet weekends.
    const rhythm = (weekend ? 0.25 : 1) * (hourOfDay >= 7 && hourOfDay <= 20 ? 1.6 : 0.35);
    TEAMS.forEach(([team, millions, growth], t) => {
      const day = hour / 24;
      const tokens = ((millions * 1e6) / 24) * rhythm * (1 + growth * day) * (0.8 + 0.4 * next());
      MODELS.forEach(([model, share, price], m) => {
        const total = Math.round(tokens * share);
        if (total === 0) return;
        const prompt = Math.round(total * 0.72);
        const roll = next();
        out.push({
          id: `shot-${hour}-${t}-${m}`,
          time: time + Math.floor(next() * HOUR),
          api: 'openai',
          operation: 'chat.completions',
          subscription: team,
          model,
          stream: m !== 0,
          custom: {},
          source: roll < 0.02 ? 'estimated' : roll < 0.025 ? 'partial' : 'reported',
          status: 200,
          latencyMs: 400,
          promptTokens: prompt,
          completionTokens: total - prompt,
          totalTokens: total,
          cachedTokens: Math.round(prompt * 0.3),
          reasoningTokens: model === 'o3-mini' ? Math.round((total - prompt) * 0.5) : 0,
          cost: Math.round((total / 1000) * price * 1e6) / 1e6,
        });
      });
    });
  }
  return out;
}

function configYaml(ledgerPath: string): string {
  return [
    `ledger: sqlite:${ledgerPath}`,
    'admin:',
    `  key: ${ADMIN_KEY}`,
    'backends:',
    '  - id: primary',
    '    type: openai',
    '    url: https://api.openai.com/v1',
    'apis:',
    '  - id: openai',
    '    path: /openai/v1',
    '    type: openai',
    '    backend: primary',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const missing = chromiumMissing();
  if (missing) throw new Error(missing);
  const dir = await mkdtemp(join(tmpdir(), 'tokenmeter-screenshots-'));
  const ledgerPath = join(dir, 'ledger.db');
  await seedLedger(ledgerPath, records(Date.now()));
  const server = await startDashboard(dir, configYaml(ledgerPath));
  const browser = await launchChromium();
  try {
    const out = join(import.meta.dirname, '../docs/images');
    const wide = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await signIn(wide, server.url, ADMIN_KEY);
    // Hover a weekday so the reading line under the chart shows what hovering gives.
    const box = await wide.locator('#usage-chart').boundingBox();
    if (box) await wide.mouse.move(box.x + box.width * 0.62, box.y + box.height * 0.5);
    await wide.screenshot({ path: join(out, 'dashboard-admin.png') });
    const narrow = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await signIn(narrow, server.url, ADMIN_KEY);
    const height = await narrow.evaluate('document.documentElement.scrollHeight');
    await narrow.screenshot({
      path: join(out, 'dashboard-narrow.png'),
      fullPage: true,
      clip: { x: 0, y: 0, width: 390, height: Math.min(Number(height), 1800) },
    });
    console.log(`wrote ${out}/dashboard-admin.png and dashboard-narrow.png`);
  } finally {
    await browser.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
