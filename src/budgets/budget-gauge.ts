import { Gauge, type Registry } from 'prom-client';
import type { BudgetTracker } from './budget-tracker.js';

/**
 * Registers `tokenmeter_budget_used_ratio{subscription}`: used ÷ limit of the current month per
 * budgeted subscription (with both limits, the larger ratio), read at each scrape. One series
 * per budgeted subscription of the configuration: bounded by the file, not by traffic.
 */
export function exposeBudgetRatios(registry: Registry, tracker: BudgetTracker): void {
  new Gauge({
    name: 'tokenmeter_budget_used_ratio',
    help: "A subscription's budget used this month: used / limit (the larger of tokens and cost).",
    labelNames: ['subscription'],
    registers: [registry],
    collect() {
      for (const [subscription, ratio] of tracker.ratios()) this.set({ subscription }, ratio);
    },
  });
}
