import { setTimeout as sleep } from 'node:timers/promises';
import { readLedgerRows, type LedgerRow } from '../helpers/ledger-rows.js';

/** Shared by the Bedrock end-to-end tests (a real `tokenmeter serve` child, the simulator upstream). */

/** A gateway config with one Bedrock API in front of `backend`, and two teams. */
export function bedrockGatewayConfig(backend: Record<string, unknown>): Record<string, unknown> {
  return {
    backends: [{ id: 'aws', type: 'bedrock', ...backend }],
    apis: [{ id: 'bedrock', path: '/bedrock', type: 'bedrock', backend: 'aws' }],
    products: [{ id: 'std', apis: ['bedrock'] }],
    subscriptions: [
      { id: 'team-a', key: TEAM_KEYS.a, product: 'std' },
      { id: 'team-b', key: TEAM_KEYS.b, product: 'std' },
    ],
  };
}

/** The teams' subscription keys, sent by the SDK as Bedrock API keys. */
export const TEAM_KEYS = { a: 'tm-team-a-bedrock-key', b: 'tm-team-b-bedrock-key' } as const;

/**
 * The ledger rows once there are at least `count` (records of aborted or cut streams are
 * written when the gateway sees the end, which may come after the client gave up); at most 10 s.
 */
export async function waitForRows(ledgerPath: string, count: number): Promise<LedgerRow[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const rows = readLedgerRows(ledgerPath);
    if (rows.length >= count || Date.now() > deadline) return rows;
    await sleep(25);
  }
}

/** The sum of a numeric column (null counts as 0). */
export function sum(rows: readonly LedgerRow[], column: string): number {
  return rows.reduce((total, row) => total + ((row[column] as number | null) ?? 0), 0);
}

/** The columns the Bedrock tests assert on, in a fixed order. */
export function pick(row: LedgerRow | undefined): (string | number | null)[] {
  if (row === undefined) return [];
  return [
    row.provider ?? null,
    row.operation ?? null,
    row.model ?? null,
    row.stream ?? null,
    row.source ?? null,
    row.prompt_tokens ?? null,
    row.completion_tokens ?? null,
    row.total_tokens ?? null,
    row.subscription ?? null,
  ];
}
