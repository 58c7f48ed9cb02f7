import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CONFIG_SOURCED_LABELS,
  createCardinalityGuard,
  DEFAULT_MAX_DISTINCT_VALUES,
  OVERFLOW_VALUE,
  type CardinalityGuardOptions,
} from '../../src/dimensions/cardinality-guard.js';

/** A guard on a clock the test moves by hand; `released` lists what left it, in order. */
function guardOnClock(options: CardinalityGuardOptions = {}): {
  guard: ReturnType<typeof createCardinalityGuard>;
  released: string[];
  advance: (ms: number) => void;
} {
  let now = 0;
  const released: string[] = [];
  const guard = createCardinalityGuard({
    clock: () => now,
    onRelease: (name, value) => released.push(`${name}=${value}`),
    ...options,
  });
  return {
    guard,
    released,
    advance: (ms) => {
      now += ms;
    },
  };
}

describe('createCardinalityGuard: the cap', () => {
  it('keeps N distinct values per dimension and folds the rest into __other__', () => {
    const guard = createCardinalityGuard({ maxDistinctValues: 2 });
    assert.equal(guard.admit('team', 'a'), 'a');
    assert.equal(guard.admit('team', 'b'), 'b');
    assert.equal(guard.admit('team', 'c'), OVERFLOW_VALUE);
    assert.equal(guard.admit('team', 'a'), 'a', 'a value already held stays');
    assert.equal(guard.admit('app', 'c'), 'c', 'limits are per dimension name');
    assert.deepEqual(guard.overflowCounts(), { team: 1 });
    assert.deepEqual(guard.heldCounts(), { team: 2, app: 1 });
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

  it('never admits a new value from a call that did not succeed, but reuses held ones', () => {
    const guard = createCardinalityGuard({ maxDistinctValues: 5 });
    const refused = { subscription: 'team-a', succeeded: false };
    assert.equal(guard.admit('user', 'mallory-1', refused), OVERFLOW_VALUE);
    assert.equal(guard.admit('team', 'x', refused), OVERFLOW_VALUE, 'custom labels alike');
    assert.equal(guard.admit('user', 'alice', { subscription: 'team-a' }), 'alice');
    assert.equal(guard.admit('user', 'alice', refused), 'alice');
    assert.equal(guard.admit('user', 'alice', { subscription: 'team-b', succeeded: false }), 'alice');
    for (const user of ['u2', 'u3', 'u4', 'u5'])
      assert.equal(guard.admit('user', user, { subscription: 'team-a' }), user);
    assert.equal(guard.admit('user', 'u6', { subscription: 'team-a' }), OVERFLOW_VALUE);
  });

  it('admits config-sourced labels from any call, within the cap, with no share per subscription', () => {
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

  it('rejects a nonsensical limit or window', () => {
    assert.throws(() => createCardinalityGuard({ maxDistinctValues: -1 }), RangeError);
    assert.throws(() => createCardinalityGuard({ maxDistinctValues: 1.5 }), RangeError);
    assert.throws(() => createCardinalityGuard({ windowMs: 0 }), RangeError);
    assert.throws(() => createCardinalityGuard({ windowMs: Number.NaN }), RangeError);
  });
});

describe('createCardinalityGuard: the rolling window', () => {
  it('releases a value not seen for the window, and its slot takes a new value', () => {
    const { guard, released, advance } = guardOnClock({ maxDistinctValues: 2, windowMs: 60_000 });
    const a = { subscription: 'team-a' };
    assert.equal(guard.admit('user', 'old', a), 'old');
    advance(30_000);
    assert.equal(guard.admit('user', 'kept', a), 'kept');
    assert.equal(guard.admit('user', 'new', a), OVERFLOW_VALUE, 'full within the window');
    // 'old' was last seen at 0; the window is 60 s (released at most window/60 = 1 s later).
    advance(30_000 - 1);
    assert.equal(guard.admit('user', 'new', a), OVERFLOW_VALUE, 'not yet a whole window');
    assert.deepEqual(released, []);
    advance(1_001);
    assert.equal(guard.admit('user', 'new', a), 'new', "'old' left the window and freed its slot");
    assert.deepEqual(released, ['user=old']);
    assert.equal(guard.admit('user', 'old', a), OVERFLOW_VALUE, 'it is a new value again');
    assert.deepEqual(guard.heldCounts(), { user: 2 });
  });

  it('keeps a value that is seen again, whoever sends it and whatever the status', () => {
    const { guard, released, advance } = guardOnClock({ maxDistinctValues: 1, windowMs: 60_000 });
    assert.equal(guard.admit('model', 'gpt', { subscription: 'team-a' }), 'gpt');
    for (let i = 0; i < 10; i++) {
      advance(50_000);
      assert.equal(guard.admit('model', 'gpt', { subscription: `team-${i}`, succeeded: i % 2 === 0 }), 'gpt');
    }
    assert.deepEqual(released, []);
    advance(62_000);
    guard.sweep();
    assert.deepEqual(released, ['model=gpt'], 'a sweep releases without a call');
  });

  it('releases in last-seen order, refreshed coarsely', () => {
    const { guard, released, advance } = guardOnClock({ maxDistinctValues: 10, windowMs: 6_000 });
    for (const v of ['a', 'b', 'c']) guard.admit('ip', v);
    advance(2_000);
    guard.admit('ip', 'a'); // refreshed: now the most recently seen
    advance(4_200);
    guard.sweep();
    assert.deepEqual(released, ['ip=b', 'ip=c']);
    advance(2_000);
    guard.sweep();
    assert.deepEqual(released, ['ip=b', 'ip=c', 'ip=a']);
  });

  it('holds at most N values however many distinct values arrive over many windows', () => {
    const { guard, advance } = guardOnClock({ maxDistinctValues: 50, windowMs: 1_000 });
    for (let i = 0; i < 20_000; i++) {
      advance(1);
      guard.admit('user', `u${i}`, { subscription: `team-${i % 3}` });
      assert.ok((guard.heldCounts().user ?? 0) <= 50);
    }
  });
});

describe('createCardinalityGuard: a fair share per subscription', () => {
  it('a subscription that filled the label cannot keep the others out', () => {
    const { guard, released } = guardOnClock({ maxDistinctValues: 4 });
    const a = { subscription: 'team-a' };
    const b = { subscription: 'team-b' };
    for (const user of ['a1', 'a2', 'a3', 'a4']) assert.equal(guard.admit('user', user, a), user);
    assert.equal(guard.admit('user', 'a5', a), OVERFLOW_VALUE);
    // team-b holds less than its fair share (4 / 2): it takes team-a's least recently seen slot.
    assert.equal(guard.admit('user', 'b1', b), 'b1');
    assert.equal(guard.admit('user', 'b2', b), 'b2');
    assert.deepEqual(released, ['user=a1', 'user=a2']);
    assert.equal(guard.admit('user', 'b3', b), OVERFLOW_VALUE, 'team-b is at its fair share');
    assert.equal(guard.admit('user', 'a6', a), OVERFLOW_VALUE, 'team-a cannot take them back');
    assert.equal(guard.admit('user', 'a3', a), 'a3', "team-a's remaining values stay");
    assert.equal(guard.admit('user', 'b2', a), 'b2', 'held values are shared');
    // A third tenant: the fair share is now ⌊4 / 3⌋ = 1.
    assert.equal(guard.admit('user', 'c1', { subscription: 'team-c' }), 'c1');
    assert.equal(guard.admit('user', 'c2', { subscription: 'team-c' }), OVERFLOW_VALUE);
    assert.deepEqual(guard.heldCounts(), { user: 4 });
  });

  it('a failed call takes no slot from anyone', () => {
    const { guard, released } = guardOnClock({ maxDistinctValues: 2 });
    guard.admit('user', 'a1', { subscription: 'team-a' });
    guard.admit('user', 'a2', { subscription: 'team-a' });
    assert.equal(guard.admit('user', 'b1', { subscription: 'team-b', succeeded: false }), OVERFLOW_VALUE);
    assert.deepEqual(released, []);
  });

  it('a flood from one subscription leaves every other tenant its share', () => {
    const { guard, advance } = guardOnClock({ maxDistinctValues: 100, windowMs: 60_000 });
    for (let i = 0; i < 5_000; i++) {
      advance(1);
      guard.admit('user', `flood-${i}`, { subscription: 'mallory' });
      if (i % 100 === 0) {
        const tenant = `team-${(i / 100) % 4}`;
        assert.notEqual(guard.admit('user', `${tenant}-${i}`, { subscription: tenant }), OVERFLOW_VALUE);
      }
    }
    assert.equal(guard.heldCounts().user, 100);
  });
});
