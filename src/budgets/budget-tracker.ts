import type { Logger } from 'pino';
import type { BudgetConfig, SubscriptionConfig } from '../config/schema.js';
import { TokenmeterError } from '../errors.js';
import type { RecordObserver } from '../gateway/record-sink.js';
import type { Ledger } from '../ledger/ledger.js';
import type { UsageRecord } from '../ledger/record.js';
import type { ConsistentReads } from '../outbox/outbox-ledger.js';
import type { AlertChannel, BudgetAlert } from './alert-delivery.js';
import { budgetMonthOf, type BudgetMonth } from './budget-month.js';

/** Options of {@link createBudgetTracker}. */
export interface BudgetTrackerOptions {
  subscriptions: readonly SubscriptionConfig[];
  /** `reports.timezone`: the month a budget counts is the month in this zone. */
  timeZone: string;
  /** `pricing.currency`, named in alerts. */
  currency: string;
  ledger: Ledger;
  channels: readonly AlertChannel[];
  log: Logger;
  /** Wall clock, epoch ms (default Date.now); tests inject one to cross a month. */
  clock?: () => number;
  /** How often the month's usage is read back from the ledger (default 1000 ms). */
  refreshMs?: number;
}

/** Budgets of the configured subscriptions, kept up to date from the ledger and this gateway's records. */
export interface BudgetTracker extends RecordObserver {
  /**
   * The refusal for a new call of `subscription` when its budget blocks and is used up, else
   * undefined. One map lookup (and a clock read for a blocked one): it runs on every call.
   */
  refusal(subscription: string): TokenmeterError | undefined;
  /** used ÷ limit per budgeted subscription (with both limits, the larger). */
  ratios(): Array<[subscription: string, ratio: number]>;
  /** Reads the month's usage from the ledger, then delivers the alerts due. */
  refresh(): Promise<void>;
  /** The first refresh, then one every `refreshMs` (an unref'd timer). */
  start(): Promise<void>;
  /** Stops refreshing, waits for a delivery under way and closes the channels. */
  close(): Promise<void>;
}

interface BudgetState {
  id: string;
  owner: string | undefined;
  budget: BudgetConfig;
  /** The month's totals as the ledger had them at the last refresh. */
  ledgerTokens: number;
  ledgerCost: number;
  /**
   * This gateway's records the last refresh did not find in the ledger, oldest first, tagged
   * (see `tagNow`); ownTokens and ownCost are their sums.
   */
  own: OwnUsage[];
  ownTokens: number;
  ownCost: number;
  /** The refusal while the budget blocks and is used up (built once, when it is). */
  blocked: TokenmeterError | undefined;
  /** `${month} ${unit} ${threshold}` of the alerts known to be delivered on every channel. */
  alerted: Set<string>;
}

/** Usage of records observed under one tag (one journal turn, or one record). */
interface OwnUsage {
  tag: number;
  tokens: number;
  cost: number;
}

/**
 * Own entries kept per subscription at most: past it, neighbours merge under the later tag (only
 * while the ledger cannot be read for long; a merged entry is counted twice, never missed, until a
 * refresh's read passes its tag).
 */
const MAX_OWN_ENTRIES = 4096;

/** How long a refresh waits for the outbox to hold the ledger at this gateway's writes. */
const CONSISTENT_READ_WAIT_MS = 2000;

/** A claim older than this is taken over: its gateway died mid-delivery. */
const ALERT_LEASE_MS = 60_000;

/**
 * Tracks each budgeted subscription's usage in the current month (`reports.timezone`).
 *
 * Used = the ledger's month totals read at the last refresh + this gateway's records that read
 * did not see (it observes the record sink), so a single gateway is exact and gateways sharing a
 * ledger see each other's usage within `refreshMs`. Each observed record is kept with a tag, and
 * a refresh drops exactly the records its read saw:
 * - Through the outbox (outbox-ledger.ts `ConsistentReads`), records reach the ledger from a
 *   worker thread, while calls go on. The tag is the outbox's `appendedCount()` when the record
 *   is observed (its journal turn's end), and the read runs while the worker holds the ledger at
 *   this gateway's first `upTo` records, a turn's end: a record is in the read exactly when its
 *   tag ≤ upTo. Without the hold (not had in time: the ledger is down) the read is used as below.
 * - Other ledgers (SQLite in memory) run the query synchronously, and a record is observed after
 *   its commit: the read saw exactly the records observed before it began (the tag counts them).
 *
 * Overshoot: a call is refused only once used ≥ limit, and its usage is known only when it ends,
 * so calls already in flight when the limit is reached (on this gateway; on others also those
 * started within `refreshMs`) still complete and are billed.
 *
 * Alerts: each `alertAt` threshold of each limit, once per month per subscription and channel,
 * across gateways and restarts: the ledger's `budget_alerts` claim decides who delivers, and
 * only a delivered alert is marked sent; a failed one is logged and retried on a later refresh.
 * Deliveries run one at a time, apart from any call.
 */
export function createBudgetTracker(options: BudgetTrackerOptions): BudgetTracker {
  const { ledger, channels, log, timeZone, currency } = options;
  const clock = options.clock ?? Date.now;
  const refreshMs = options.refreshMs ?? 1000;
  const states = new Map<string, BudgetState>();
  const consistent = 'readConsistent' in ledger ? (ledger as Ledger & ConsistentReads) : undefined;
  /** Records observed, the tag of ledgers without consistent reads. */
  let observed = 0;
  /** The tag of a record observed now (see the JSDoc). */
  const tagNow = (): number => consistent?.appendedCount() ?? observed;
  for (const s of options.subscriptions) {
    if (s.budget === undefined) continue;
    states.set(s.id, {
      id: s.id,
      owner: s.owner,
      budget: s.budget,
      ledgerTokens: 0,
      ledgerCost: 0,
      own: [],
      ownTokens: 0,
      ownCost: 0,
      blocked: undefined,
      alerted: new Set(),
    });
  }
  const ids = [...states.keys()];
  let month: BudgetMonth = budgetMonthOf(clock(), timeZone);
  let timer: NodeJS.Timeout | undefined;
  let refreshing: Promise<void> | undefined;
  let delivering: Promise<void> = Promise.resolve();

  const usedTokens = (s: BudgetState): number => s.ledgerTokens + s.ownTokens;
  const usedCost = (s: BudgetState): number => s.ledgerCost + s.ownCost;

  function updateBlocked(s: BudgetState): void {
    const { monthlyTokens, monthlyCost, onExceeded } = s.budget;
    if (onExceeded !== 'block') return;
    const overTokens = monthlyTokens !== undefined && usedTokens(s) >= monthlyTokens;
    const overCost = monthlyCost !== undefined && usedCost(s) >= monthlyCost;
    if (!overTokens && !overCost) {
      s.blocked = undefined;
      return;
    }
    if (s.blocked !== undefined) return;
    const limit = overTokens ? `${monthlyTokens} tokens` : `${monthlyCost} ${currency}`;
    s.blocked = new TokenmeterError(
      'TM_BUDGET_EXCEEDED',
      `Subscription "${s.id}" has used its monthly budget of ${limit} for ${month.month}; ` +
        `it resets at ${new Date(month.until).toISOString()}.`,
    );
  }

  function enterMonth(now: number): void {
    if (now < month.until && now >= month.since) return;
    month = budgetMonthOf(now, timeZone);
    for (const s of states.values()) {
      s.ledgerTokens = s.ledgerCost = s.ownTokens = s.ownCost = 0;
      s.own = [];
      s.blocked = undefined;
      s.alerted.clear();
    }
  }

  /** Forgets the own records tagged ≤ `upTo`: the ledger's totals hold them now. */
  function dropOwn(s: BudgetState, upTo: number): void {
    const seen = s.own.findIndex((u) => u.tag > upTo);
    if (seen === 0) return;
    s.own = seen < 0 ? [] : s.own.slice(seen);
    // Summed again rather than subtracted: no rounding drift of the cost over a month.
    s.ownTokens = s.own.reduce((sum, u) => sum + u.tokens, 0);
    s.ownCost = s.own.reduce((sum, u) => sum + u.cost, 0);
  }

  async function readLedger(): Promise<void> {
    enterMonth(clock());
    const range = { since: month.since, until: month.until };
    // Without a hold, the read saw the records observed before it began (see the JSDoc).
    const before = tagNow();
    let totals: Awaited<ReturnType<Ledger['subscriptionTotals']>>;
    let upTo = before;
    if (consistent !== undefined) {
      const read = await consistent.readConsistent(
        (reader) => reader.subscriptionTotals(range, ids),
        CONSISTENT_READ_WAIT_MS,
      );
      totals = read.value;
      upTo = read.upTo ?? before;
    } else totals = await ledger.subscriptionTotals(range, ids);
    // A read begun in a month that has ended since counts the old month: the new one starts now.
    const now = clock();
    if (now < range.since || now >= range.until || range.since !== month.since) {
      enterMonth(now);
      return;
    }
    for (const s of states.values()) {
      const total = totals.get(s.id);
      s.ledgerTokens = total?.tokens ?? 0;
      s.ledgerCost = total?.cost ?? 0;
      dropOwn(s, upTo);
      updateBlocked(s);
    }
  }

  /** The alerts due and not known delivered, in order of subscription, unit and threshold. */
  function dueAlerts(): Array<{ state: BudgetState; alert: BudgetAlert; key: string }> {
    const due: Array<{ state: BudgetState; alert: BudgetAlert; key: string }> = [];
    for (const s of states.values()) {
      const limits: Array<[BudgetAlert['unit'], number | undefined, number]> = [
        ['tokens', s.budget.monthlyTokens, usedTokens(s)],
        ['cost', s.budget.monthlyCost, usedCost(s)],
      ];
      for (const [unit, limit, used] of limits) {
        if (limit === undefined) continue;
        for (const threshold of [...new Set(s.budget.alertAt)].sort((a, b) => a - b)) {
          const key = `${month.month} ${unit} ${threshold}`;
          if (used * 100 < threshold * limit || s.alerted.has(key)) continue;
          due.push({
            state: s,
            key,
            alert: { subscription: s.id, threshold, used, limit, unit, month: month.month, currency },
          });
        }
      }
    }
    return due;
  }

  /** Delivers one alert on every channel that reaches the owner; true when all have it. */
  async function deliver(s: BudgetState, alert: BudgetAlert): Promise<boolean> {
    let all = true;
    for (const channel of channels) {
      if (!channel.reaches(s.owner)) continue;
      const key = { ...alert, channel: channel.name };
      const claim = await ledger.claimBudgetAlert(key, clock(), ALERT_LEASE_MS);
      if (claim.state === 'sent') continue;
      if (claim.state === 'busy') {
        all = false;
        continue;
      }
      let delivered = false;
      try {
        await channel.send(alert, s.owner);
        delivered = true;
      } catch (err) {
        all = false;
        const reason = err instanceof Error ? err.message : String(err);
        log.warn(
          { subscription: s.id, threshold: alert.threshold, unit: alert.unit, channel: channel.name, reason },
          'budget alert not delivered; retried on a later refresh',
        );
      }
      await ledger.settleBudgetAlert(key, claim.claim, delivered, clock());
    }
    return all;
  }

  async function deliverDue(): Promise<void> {
    for (const { state, alert, key } of dueAlerts()) {
      if (await deliver(state, alert)) state.alerted.add(key);
    }
  }

  async function runRefresh(): Promise<void> {
    try {
      await readLedger();
    } catch (err) {
      log.warn({ err }, 'budget usage could not be read from the ledger; the last figures stay in use');
    }
    // One delivery round at a time; a round under way is not waited for by the next refresh.
    delivering = delivering.then(deliverDue).catch((err: unknown) => {
      log.warn({ err }, 'budget alerts could not be delivered; retried on a later refresh');
    });
  }

  return {
    refusal(subscription) {
      const blocked = states.get(subscription)?.blocked;
      if (blocked === undefined) return undefined;
      // A new month lifts the block at once, before the next refresh resets the counts.
      return clock() < month.until ? blocked : undefined;
    },
    ratios() {
      return [...states.values()].map((s) => {
        const { monthlyTokens, monthlyCost } = s.budget;
        const byTokens = monthlyTokens === undefined ? 0 : usedTokens(s) / monthlyTokens;
        const byCost = monthlyCost === undefined ? 0 : usedCost(s) / monthlyCost;
        return [s.id, Math.max(byTokens, byCost)];
      });
    },
    observe(record: UsageRecord) {
      observed++;
      const s = record.subscription === undefined ? undefined : states.get(record.subscription);
      if (s === undefined || record.time < month.since || record.time >= month.until) return;
      const tokens = record.totalTokens ?? (record.promptTokens ?? 0) + (record.completionTokens ?? 0);
      const cost = record.cost ?? 0;
      const tag = tagNow();
      const last = s.own.at(-1);
      if (last?.tag === tag) {
        last.tokens += tokens;
        last.cost += cost;
      } else {
        s.own.push({ tag, tokens, cost });
        if (s.own.length > MAX_OWN_ENTRIES) s.own = mergePairs(s.own);
      }
      s.ownTokens += tokens;
      s.ownCost += cost;
      updateBlocked(s);
    },
    refresh() {
      // Overlapping refreshes (a slow ledger) share one.
      refreshing ??= runRefresh().finally(() => {
        refreshing = undefined;
      });
      return refreshing.then(() => delivering);
    },
    async start() {
      await this.refresh();
      timer = setInterval(() => void this.refresh(), refreshMs);
      timer.unref();
    },
    async close() {
      clearInterval(timer);
      await refreshing;
      await delivering;
      for (const channel of channels) channel.close();
    },
  };
}

/** Halves a list of own entries: each pair becomes one entry under the later tag. */
function mergePairs(own: readonly OwnUsage[]): OwnUsage[] {
  const merged: OwnUsage[] = [];
  for (let i = 0; i < own.length; i += 2) {
    const a = own[i];
    const b = own[i + 1];
    if (a === undefined) continue;
    merged.push(
      b === undefined ? { ...a } : { tag: b.tag, tokens: a.tokens + b.tokens, cost: a.cost + b.cost },
    );
  }
  return merged;
}
