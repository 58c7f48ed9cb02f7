import type { Ledger } from '../ledger/ledger.js';
import { USAGE_FIELDS } from '../usage.js';
import { splitByWeight } from './capacity-split.js';
import { createLocalDayOf, daysInMonth, monthLabel, type CalendarMonth } from './month-range.js';
import { roundCost, type DimensionValue, type UsageRow } from './usage-query.js';

/** Token and request figures of a report row, summed from `usage` rows. */
export const REPORT_COUNTS = ['requests', ...USAGE_FIELDS, 'unpricedTokens'] as const;

export type ReportCountKey = (typeof REPORT_COUNTS)[number];

/** `--by` values that are not ledger dimensions but properties of the subscription (config or managed). */
export const SUBSCRIPTION_PROPERTIES = ['costCenter', 'owner'] as const;

export type SubscriptionProperty = (typeof SUBSCRIPTION_PROPERTIES)[number];

/** Who answers for a subscription: from its YAML entry or its managed subscription. */
export interface SubscriptionParty {
  owner?: string | undefined;
  costCenter?: string | undefined;
}

/** What the report groups by: a ledger dimension (as `usage --by` takes it) or a subscription property. */
export type ReportGrouping =
  | { kind: 'dimension'; name: string; key: string }
  | { kind: 'property'; property: SubscriptionProperty; key: SubscriptionProperty };

/** A backend with provisioned capacity: `monthlyCost` is split by tokens on it. */
export interface CapacityBackend {
  id: string;
  monthlyCost: number;
}

/**
 * One row of a chargeback report. `cost` is the token cost (the sum of stored costs, which
 * carry the subscription multipliers) plus `capacityCost`; it is null only when no record of
 * the row had a price and the row has no capacity share (an unknown cost is not free).
 */
export type ReportRow = { [K in ReportCountKey]: number } & {
  /** The `--by` value; null for records without it. */
  group: string | null;
  owner: string | null;
  costCenter: string | null;
  /** Sum of the stored costs of the row's records; null when none was priced. */
  tokenCost: number | null;
  /** The row's share of every provisioned backend's monthlyCost. */
  capacityCost: number;
  /** Capacity share per backend id (only backends the row used). */
  capacityByBackend: Record<string, number>;
  cost: number | null;
  /** Token cost per model the client asked for (`(none)` when unknown); null = unpriced. */
  costByModel: Record<string, number | null>;
  /** Total tokens per local day of the month (index 0 = day 1). */
  dailyTokens: number[];
};

/** A month's chargeback report, the input of every report format. */
export interface ChargebackReport {
  /** `YYYY-MM` */
  month: string;
  timeZone: string;
  /** [since, until), epoch ms. */
  since: number;
  until: number;
  /** The row key of the grouping (`subscription`, `costCenter`, `appId`, …). */
  groupKey: string;
  rows: ReportRow[];
  /** The sums of the rows (group, owner and costCenter null). */
  total: ReportRow;
  /** Provisioned backends whose monthlyCost nobody used in the month (not charged to anyone). */
  unallocatedCapacity: CapacityBackend[];
}

/** What a report is built from. */
export interface ReportInput {
  ledger: Pick<Ledger, 'query'>;
  month: CalendarMonth;
  timeZone: string;
  range: { since: number; until: number };
  grouping: ReportGrouping;
  parties: ReadonlyMap<string, SubscriptionParty>;
  capacity: readonly CapacityBackend[];
}

const NONE = '(none)';
/** Buckets of 15 minutes: every zone's offset is a multiple of it, so each falls in one local day. */
const BUCKET_MS = 15 * 60_000;

function groupLabel(value: DimensionValue | number | undefined): string | null {
  return value === null || value === undefined ? null : String(value);
}

/** The one value every member has, else null (a cost center shared by two owners has no single owner). */
function onlyValue(values: readonly (string | undefined)[]): string | null {
  const distinct = new Set(values);
  const [only] = distinct;
  return distinct.size === 1 && only !== undefined ? only : null;
}

function emptyRow(group: string | null, days: number): ReportRow {
  return {
    group,
    owner: null,
    costCenter: null,
    requests: 0,
    promptTokens: 0,
    completionTokens: 0,
    totalTokens: 0,
    cachedTokens: 0,
    cacheWriteTokens: 0,
    reasoningTokens: 0,
    unpricedTokens: 0,
    tokenCost: null,
    capacityCost: 0,
    // Null prototype: model names come from clients, and "__proto__" must stay a plain key.
    capacityByBackend: Object.create(null) as Record<string, number>,
    cost: null,
    costByModel: Object.create(null) as Record<string, number | null>,
    dailyTokens: new Array<number>(days).fill(0),
  };
}

function addCost(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : a + b;
}

function compareGroups(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : 1;
}

/**
 * Builds a month's chargeback report from the ledger's usage query, so that its figures are
 * `tokenmeter usage --by <dimension> --since <since> --until <until>` exactly: the rows of a
 * ledger-dimension grouping are the usage rows themselves; a `costCenter` / `owner` grouping sums
 * the usage rows of its subscriptions (costs rounded to millionths once more, as usage's TOTAL
 * line does). Capacity is split between the report's rows in proportion to their tokens on each
 * provisioned backend (see splitByWeight); a backend nobody used is listed as unallocated.
 */
export async function buildChargebackReport(input: ReportInput): Promise<ChargebackReport> {
  const { ledger, range, grouping, parties } = input;
  const days = daysInMonth(input.month);
  const base = grouping.kind === 'dimension' ? grouping.name : 'subscription';
  const window = { since: range.since, until: range.until, where: [] };
  const partyOf = (row: UsageRow): SubscriptionParty | undefined => {
    const id = groupLabel(row['subscription']);
    return id === null ? undefined : parties.get(id);
  };
  const groupOf = (row: UsageRow): string | null => {
    if (grouping.kind === 'dimension') return groupLabel(row[grouping.key]);
    return partyOf(row)?.[grouping.property] ?? null;
  };

  const rows = new Map<string | null, ReportRow>();
  const members = new Map<string | null, SubscriptionParty[]>();
  const rowOf = (group: string | null): ReportRow => {
    let row = rows.get(group);
    if (row === undefined) rows.set(group, (row = emptyRow(group, days)));
    return row;
  };

  for (const usage of await ledger.query({ ...window, by: [base] })) {
    const row = rowOf(groupOf(usage));
    for (const key of REPORT_COUNTS) row[key] += usage[key];
    row.tokenCost = roundCost(addCost(row.tokenCost, usage.cost));
    if (grouping.kind === 'property' || grouping.key === 'subscription') {
      const list = members.get(row.group) ?? [];
      list.push(partyOf(usage) ?? {});
      members.set(row.group, list);
    }
  }
  for (const [group, list] of members) {
    const row = rowOf(group);
    row.owner = onlyValue(list.map((p) => p.owner));
    row.costCenter = onlyValue(list.map((p) => p.costCenter));
  }

  for (const usage of await ledger.query({ ...window, by: [base, 'model'] })) {
    const row = rowOf(groupOf(usage));
    const model = groupLabel(usage['model']) ?? NONE;
    row.costByModel[model] = roundCost(addCost(row.costByModel[model] ?? null, usage.cost));
  }

  const unallocatedCapacity: CapacityBackend[] = [];
  if (input.capacity.length > 0) {
    const tokens = new Map<string, Map<string | null, number>>();
    for (const usage of await ledger.query({ ...window, by: [base, 'backend'] })) {
      const backend = groupLabel(usage['backend']);
      if (backend === null) continue;
      const perGroup = tokens.get(backend) ?? new Map<string | null, number>();
      const group = groupOf(usage);
      perGroup.set(group, (perGroup.get(group) ?? 0) + usage.totalTokens);
      tokens.set(backend, perGroup);
    }
    for (const backend of input.capacity) {
      const perGroup = tokens.get(backend.id) ?? new Map<string | null, number>();
      // splitByWeight keys are strings: a JSON key keeps null ("no subscription") apart from "null".
      const weights = new Map([...perGroup].map(([g, t]) => [JSON.stringify(g), t]));
      const shares = splitByWeight(backend.monthlyCost, weights);
      if (shares.size === 0) unallocatedCapacity.push(backend);
      for (const [key, share] of shares) {
        const row = rowOf(JSON.parse(key) as string | null);
        row.capacityByBackend[backend.id] = share;
        row.capacityCost = roundCost(row.capacityCost + share) ?? 0;
      }
    }
  }

  const localDay = createLocalDayOf(input.timeZone);
  for (const usage of await ledger.query({ ...window, by: [base], interval: BUCKET_MS })) {
    const day = localDay(Date.parse(String(usage.time)));
    const row = rowOf(groupOf(usage));
    if (day >= 1 && day <= days)
      row.dailyTokens[day - 1] = (row.dailyTokens[day - 1] ?? 0) + usage.totalTokens;
  }

  const sorted = [...rows.values()].sort((a, b) => compareGroups(a.group, b.group));
  for (const row of sorted) row.cost = rowCost(row);
  return {
    month: monthLabel(input.month),
    timeZone: input.timeZone,
    since: range.since,
    until: range.until,
    groupKey: grouping.key,
    rows: sorted,
    total: sumRows(sorted, days),
    unallocatedCapacity,
  };
}

function rowCost(row: ReportRow): number | null {
  if (row.tokenCost === null && row.capacityCost === 0) return null;
  return roundCost((row.tokenCost ?? 0) + row.capacityCost);
}

/** The TOTAL row: sums of the rows' figures, costs rounded to millionths. */
function sumRows(rows: readonly ReportRow[], days: number): ReportRow {
  const total = emptyRow(null, days);
  for (const row of rows) {
    for (const key of REPORT_COUNTS) total[key] += row[key];
    total.tokenCost = roundCost(addCost(total.tokenCost, row.tokenCost));
    total.capacityCost = roundCost(total.capacityCost + row.capacityCost) ?? 0;
    total.cost = roundCost(addCost(total.cost, row.cost));
    for (const [backend, share] of Object.entries(row.capacityByBackend))
      total.capacityByBackend[backend] = roundCost((total.capacityByBackend[backend] ?? 0) + share) ?? 0;
    for (const [model, cost] of Object.entries(row.costByModel))
      total.costByModel[model] = roundCost(addCost(total.costByModel[model] ?? null, cost));
    row.dailyTokens.forEach((t, i) => (total.dailyTokens[i] = (total.dailyTokens[i] ?? 0) + t));
  }
  return total;
}
