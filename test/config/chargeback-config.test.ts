import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/load-config.js';
import { issuesOf, MINIMAL, where, yamlLines } from './helpers.js';

/** Budgets, smtp, reports and alerts (issue #9): bad input is reported with its line and path. */
describe('chargeback configuration', () => {
  it('accepts a budget, smtp, reports and alerts, with their defaults', () => {
    const config = parseConfig(
      yamlLines(
        ...MINIMAL, //                                        1..16
        '    budget: { monthlyTokens: 1000000 }', //          17
        'smtp: { host: smtp.example.com, from: tm@example.com }',
        'reports: { timezone: Europe/Berlin }',
      ),
      'tm.yaml',
      {},
    );
    assert.deepEqual(config.subscriptions[0]?.budget, {
      monthlyTokens: 1_000_000,
      alertAt: [50, 80, 100],
      onExceeded: 'alert',
    });
    assert.equal(config.smtp?.port, 587);
    assert.equal(config.smtp?.secure, false);
    assert.equal(config.reports.timezone, 'Europe/Berlin');
    assert.deepEqual(config.alerts, { email: true });
  });

  it('reports a budget with neither limit, a bad limit, a bad policy and a bad time zone at their lines', () => {
    const issues = issuesOf(
      yamlLines(
        ...MINIMAL, //                                                 1..16
        '    budget: { alertAt: [80] }', //                            17 neither limit
        '  - id: team-b', //                                           18
        '    key: team-b-secret', //                                   19
        '    product: standard', //                                    20
        '    budget: { monthlyTokens: -5, onExceeded: refuse }', //    21 bad limit, bad policy
        'reports: { timezone: Mars/Olympus_Mons }', //                 22
        'smtp: { host: smtp.example.com }', //                         23 no from
      ),
    );
    assert.deepEqual(where(issues), [
      [17, 'subscriptions[0].budget'],
      [21, 'subscriptions[1].budget.monthlyTokens'],
      [21, 'subscriptions[1].budget.onExceeded'],
      [22, 'reports.timezone'],
      [23, 'smtp.from'],
    ]);
  });
});
