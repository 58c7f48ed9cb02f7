import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CONFIG_SOURCED_LABELS,
  createCardinalityGuard,
  DEFAULT_MAX_DISTINCT_VALUES,
  OVERFLOW_VALUE,
} from '../../src/dimensions/cardinality-guard.js';

describe('createCardinalityGuard', () => {
  it('keeps the first N distinct values per dimension and folds the rest into __other__', () => {
    const guard = createCardinalityGuard({ maxDistinctValues: 2 });
    assert.equal(guard.admit('team', 'a'), 'a');
    assert.equal(guard.admit('team', 'b'), 'b');
    assert.equal(guard.admit('team', 'c'), OVERFLOW_VALUE);
    assert.equal(guard.admit('team', 'a'), 'a', 'a value already admitted stays');
    assert.equal(guard.admit('app', 'c'), 'c', 'limits are per dimension name');
    assert.deepEqual(guard.overflowCounts(), { team: 1 });
  });

  it('applies to a whole record of values', () => {
    const guard = createCardinalityGuard({ maxDistinctValues: 1 });
    assert.deepEqual(guard.admitAll({ team: 'a', app: 'x' }), { team: 'a', app: 'x' });
    assert.deepEqual(guard.admitAll({ team: 'b', app: 'x' }), { team: OVERFLOW_VALUE, app: 'x' });
  });

  it('defaults to 1000 values and keeps no state between guards', () => {
    const guard = createCardinalityGuard();
    for (let i = 0; i < DEFAULT_MAX_DISTINCT_VALUES; i += 1)
      assert.equal(guard.admit('user', `u${i}`), `u${i}`);
    assert.equal(guard.admit('user', 'one-too-many'), OVERFLOW_VALUE);
    assert.equal(createCardinalityGuard().admit('user', 'one-too-many'), 'one-too-many');
  });

  it('gives each subscription its own budget of new values for a client-controlled label', () => {
    const guard = createCardinalityGuard({ maxDistinctValues: 2 });
    const a = { subscription: 'team-a' };
    const b = { subscription: 'team-b' };
    assert.equal(guard.admit('model', 'b-model', b), 'b-model', 'team-b establishes a value first');
    for (const model of ['a1', 'a2']) assert.equal(guard.admit('model', model, a), model);
    for (const model of ['a3', 'a4', 'a5'])
      assert.equal(guard.admit('model', model, a), OVERFLOW_VALUE, "team-a's budget is spent");
    assert.equal(guard.admit('model', 'b-model', b), 'b-model', "team-b's established value stays");
    assert.equal(guard.admit('model', 'b-new', b), 'b-new', 'team-b still admits its own new value');
    assert.equal(guard.admit('model', 'b-third', b), OVERFLOW_VALUE, 'until its own budget is spent');
    assert.equal(guard.admit('model', 'a1', b), 'a1', "reusing team-a's value costs team-b nothing");
    assert.equal(guard.admit('model', 'b-model', a), 'b-model', 'admitted values are shared');
    assert.equal(guard.admit('model', 'c1', { subscription: 'team-c' }), 'c1');
    assert.deepEqual(guard.overflowCounts(), { model: 4 });
  });

  it('never admits a new value from a call that did not succeed, but reuses admitted ones', () => {
    const guard = createCardinalityGuard({ maxDistinctValues: 5 });
    const refused = { subscription: 'team-a', succeeded: false };
    assert.equal(guard.admit('user', 'mallory-1', refused), OVERFLOW_VALUE);
    assert.equal(guard.admit('team', 'x', refused), OVERFLOW_VALUE, 'custom labels alike');
    assert.equal(guard.admit('user', 'alice', { subscription: 'team-a' }), 'alice');
    assert.equal(guard.admit('user', 'alice', refused), 'alice');
    assert.equal(guard.admit('user', 'alice', { subscription: 'team-b', succeeded: false }), 'alice');
    // Refusals did not spend team-a's budget: four more new values fit.
    for (const user of ['u2', 'u3', 'u4', 'u5'])
      assert.equal(guard.admit('user', user, { subscription: 'team-a' }), user);
    assert.equal(guard.admit('user', 'u6', { subscription: 'team-a' }), OVERFLOW_VALUE);
  });

  it('admits config-sourced labels from any call, within one budget per label', () => {
    assert.ok(CONFIG_SOURCED_LABELS.has('subscription') && !CONFIG_SOURCED_LABELS.has('model'));
    const guard = createCardinalityGuard({ maxDistinctValues: 2 });
    const refused = { subscription: 'team-a', succeeded: false };
    assert.equal(guard.admit('subscription', 'team-a', refused), 'team-a');
    assert.equal(guard.admit('backend', 'primary', refused), 'primary');
    assert.equal(guard.admit('subscription', 'team-b', { subscription: 'team-b' }), 'team-b');
    assert.equal(guard.admit('subscription', 'team-c', { subscription: 'team-c' }), OVERFLOW_VALUE);
    assert.equal(guard.admit('subscription', 'team-a', { subscription: 'team-a' }), 'team-a');
  });

  it('takes the config-sourced labels from its options', () => {
    const guard = createCardinalityGuard({ maxDistinctValues: 1, configSourcedLabels: ['region'] });
    assert.equal(guard.admit('region', 'eu', { succeeded: false }), 'eu');
    assert.equal(guard.admit('api', 'openai', { succeeded: false }), OVERFLOW_VALUE, 'now client-controlled');
  });

  it('bounds a label to the budget times the subscriptions, however many values are sent', () => {
    const guard = createCardinalityGuard({ maxDistinctValues: 3 });
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const origin = { subscription: `team-${i % 4}`, succeeded: i % 3 !== 0 };
      seen.add(guard.admit('user', `user-${i}`, origin));
    }
    seen.delete(OVERFLOW_VALUE);
    assert.equal(seen.size, 3 * 4);
  });

  it('rejects a nonsensical limit', () => {
    assert.throws(() => createCardinalityGuard({ maxDistinctValues: -1 }), RangeError);
  });
});
