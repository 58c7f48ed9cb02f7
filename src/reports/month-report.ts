import { openKeyStore } from '../auth/open-key-store.js';
import type { Config } from '../config/schema.js';
import type { Ledger } from '../ledger/ledger.js';
import {
  buildChargebackReport,
  type CapacityBackend,
  type ChargebackReport,
  type ReportGrouping,
  type SubscriptionParty,
} from './chargeback-report.js';
import { monthRange, type CalendarMonth } from './month-range.js';

/** The backends whose provisioned `monthlyCost` is split between subscriptions (item 3). */
export function capacityBackends(config: Config | undefined): CapacityBackend[] {
  return (config?.backends ?? []).flatMap((b) =>
    b.monthlyCost !== undefined && b.monthlyCost > 0 ? [{ id: b.id, monthlyCost: b.monthlyCost }] : [],
  );
}

/**
 * Owner and cost center of every subscription with usage in the window: the YAML entry, else
 * the managed subscription (`tokenmeter keys create --owner … --cost-center …`).
 */
export async function loadParties(
  ledger: Pick<Ledger, 'query'>,
  ledgerUrl: string,
  config: Config | undefined,
  range: { since: number; until: number },
): Promise<Map<string, SubscriptionParty>> {
  const parties = new Map<string, SubscriptionParty>();
  for (const s of config?.subscriptions ?? [])
    parties.set(s.id, { owner: s.owner, costCenter: s.costCenter });
  const used = await ledger.query({ by: ['subscription'], ...range, where: [] });
  const missing = used
    .map((r) => r['subscription'])
    .filter((id): id is string => typeof id === 'string' && !parties.has(id));
  if (missing.length === 0) return parties;
  const store = openKeyStore(ledgerUrl, { fileMustExist: true });
  try {
    for (const id of missing) {
      const managed = await store?.subscription(id);
      if (managed !== undefined) parties.set(id, { owner: managed.owner, costCenter: managed.costCenter });
    }
  } finally {
    await store?.close();
  }
  return parties;
}

/**
 * A month's chargeback report of an open ledger, one row per subscription (or `grouping`), in
 * `reports.timezone`: what `report --month` prints and `report --send` / `reports.schedule`
 * deliver. Reads only; the caller keeps the ledger open and closes it.
 */
export async function buildMonthReport(
  ledger: Pick<Ledger, 'query'>,
  ledgerUrl: string,
  config: Config | undefined,
  month: CalendarMonth,
  grouping: ReportGrouping = { kind: 'dimension', name: 'subscription', key: 'subscription' },
): Promise<ChargebackReport> {
  const timeZone = config?.reports.timezone ?? 'UTC';
  const range = monthRange(month, timeZone);
  return buildChargebackReport({
    ledger,
    month,
    timeZone,
    range,
    grouping,
    parties: await loadParties(ledger, ledgerUrl, config, range),
    capacity: capacityBackends(config),
  });
}
